//! Serde forms of the node-level settings that are not plain text or numbers.

/// `HOST:PORT`.
pub(super) mod addr {
    use super::super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let v = String::deserialize(d)?;
        v.parse()
            .map_err(|e| serde::de::Error::custom(format!("{v:?} is not HOST:PORT ({e})")))
    }
}

/// Text where empty means not set.
pub(super) mod optional_text {
    use super::super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_deref().unwrap_or(""))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let v = String::deserialize(d)?;
        Ok((!v.trim().is_empty()).then_some(v))
    }
}

/// Roles as a list (`["meta", "ingest"]`) or comma-separated (`"meta,ingest"`).
pub(super) mod roles {
    use super::super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<String>),
        Text(String),
    }

    pub(crate) fn serialize<S: Serializer>(v: &[Role], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|r| r.as_str()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
        let joined = match Given::deserialize(d)? {
            Given::List(l) => l.join(","),
            Given::Text(s) => s,
        };
        let mut roles: Vec<Role> = joined
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(Role::parse)
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)?;
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(serde::de::Error::custom("give at least one role"));
        }
        Ok(roles)
    }
}

/// A node id of at least 1.
pub(super) mod node_id {
    use super::super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<NodeId>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(id) => s.serialize_u64(id.0),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NodeId>, D::Error> {
        match u64::deserialize(d)? {
            0 => Err(serde::de::Error::custom("node-id must be at least 1")),
            n => Ok(Some(NodeId(n))),
        }
    }
}

/// Voters as `1=HOST:PORT,2=HOST:PORT`.
pub(super) mod peers {
    use super::super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        v: &[(NodeId, String)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = v.iter().map(|(id, a)| format!("{id}={a}")).collect();
        s.serialize_str(&text.join(","))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(NodeId, String)>, D::Error> {
        String::deserialize(d)?
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let (id, addr) = p
                    .split_once('=')
                    .ok_or_else(|| format!("peer {p:?} is not ID=HOST:PORT"))?;
                let id: u64 = id
                    .trim()
                    .parse()
                    .map_err(|_| format!("peer id {id:?} is not a number"))?;
                Ok((NodeId(id), addr.trim().to_string()))
            })
            .collect::<Result<_, String>>()
            .map_err(serde::de::Error::custom)
    }
}
