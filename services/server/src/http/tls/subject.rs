//! The principal a client certificate names: its subject's common name (`CN`), else its first
//! DNS name, else its first email address among the subject alternative names.
//!
//! The certificate was verified (chain, validity, usage) by rustls before this reads it; this
//! only walks its DER far enough to find those names, and gives up on anything unexpected.

/// OID 2.5.4.3, the common name.
const CN: &[u8] = &[0x55, 0x04, 0x03];
/// OID 2.5.29.17, subject alternative names.
const SAN: &[u8] = &[0x55, 0x1d, 0x11];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// `GeneralName` choices: `rfc822Name [1]` and `dNSName [2]`, both IA5String.
const SAN_EMAIL: u8 = 0x81;
const SAN_DNS: u8 = 0x82;

/// One DER element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of an element that must have `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, contents, rest) = element(input)?;
    (t == tag).then_some((contents, rest))
}

/// Every element of a sequence or set's contents, in order.
fn elements(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, contents, rest) = element(input)?;
        input = rest;
        Some((tag, contents))
    })
}

/// The first common name of a `Name`'s contents.
fn common_name(name: &[u8]) -> Option<String> {
    for (tag, rdn) in elements(name) {
        if tag != SET {
            continue;
        }
        for (tag, attribute) in elements(rdn) {
            let Some((oid, value)) = (tag == SEQUENCE).then(|| expect(attribute, OID)).flatten()
            else {
                continue;
            };
            if oid == CN {
                // UTF8String, PrintableString, IA5String, T61String: the bytes as text.
                let (_, text, _) = element(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
        }
    }
    None
}

/// The first DNS name, else the first email address, of the extensions' contents.
fn alternative_name(extensions: &[u8]) -> Option<String> {
    let (list, _) = expect(extensions, SEQUENCE)?;
    for (tag, extension) in elements(list) {
        if tag != SEQUENCE {
            continue;
        }
        let Some((oid, rest)) = expect(extension, OID) else {
            continue;
        };
        if oid != SAN {
            continue;
        }
        // An optional `critical` BOOLEAN, then the OCTET STRING holding `GeneralNames`.
        let value = elements(rest).find(|(t, _)| *t == OCTET_STRING)?.1;
        let (names, _) = expect(value, SEQUENCE)?;
        let of = |wanted: u8| {
            elements(names)
                .find(|(t, _)| *t == wanted)
                .and_then(|(_, v)| String::from_utf8(v.to_vec()).ok())
        };
        return of(SAN_DNS).or_else(|| of(SAN_EMAIL));
    }
    None
}

/// The principal the DER certificate `der` names, if it names one.
pub fn principal(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut fields = elements(tbs).peekable();
    if fields.peek().is_some_and(|(t, _)| *t == VERSION) {
        fields.next();
    }
    // serialNumber, signature, issuer, validity, then the subject.
    let subject = fields.nth(4).filter(|(t, _)| *t == SEQUENCE)?.1;
    if let Some(cn) = common_name(subject).filter(|n| !n.is_empty()) {
        return Some(cn);
    }
    // subjectPublicKeyInfo, the optional unique ids, then the extensions.
    fields
        .find(|(t, _)| *t == EXTENSIONS)
        .and_then(|(_, e)| alternative_name(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of one element.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.extend([0x82, (contents.len() >> 8) as u8, contents.len() as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    fn name(cn: Option<&str>) -> Vec<u8> {
        let mut rdns = der(
            SET,
            &der(
                SEQUENCE,
                &[der(OID, &[0x55, 0x04, 0x0a]), der(0x0c, b"Org")].concat(),
            ),
        );
        if let Some(cn) = cn {
            rdns.extend(der(
                SET,
                &der(SEQUENCE, &[der(OID, CN), der(0x0c, cn.as_bytes())].concat()),
            ));
        }
        der(SEQUENCE, &rdns)
    }

    fn certificate(cn: Option<&str>, sans: &[(u8, &str)]) -> Vec<u8> {
        let names: Vec<u8> = sans
            .iter()
            .flat_map(|(t, v)| der(*t, v.as_bytes()))
            .collect();
        let san = der(
            SEQUENCE,
            &[der(OID, SAN), der(OCTET_STRING, &der(SEQUENCE, &names))].concat(),
        );
        let tbs = [
            der(VERSION, &der(0x02, &[2])),
            der(0x02, &[1, 2, 3]),
            der(SEQUENCE, &der(OID, &[0x2a, 0x86])),
            name(Some("Issuer CA")),
            der(
                SEQUENCE,
                &[der(0x17, b"260101000000Z"), der(0x17, b"270101000000Z")].concat(),
            ),
            name(cn),
            der(SEQUENCE, &[0u8; 200]),
            der(EXTENSIONS, &der(SEQUENCE, &san)),
        ]
        .concat();
        der(
            SEQUENCE,
            &[der(SEQUENCE, &tbs), der(SEQUENCE, &[]), der(0x03, &[0])].concat(),
        )
    }

    #[test]
    fn the_common_name_then_a_dns_name_then_an_email_is_the_principal() {
        let both = certificate(Some("alice"), &[(SAN_DNS, "alice.example")]);
        assert_eq!(principal(&both).as_deref(), Some("alice"));
        let dns = certificate(None, &[(SAN_EMAIL, "a@x"), (SAN_DNS, "svc.example")]);
        assert_eq!(principal(&dns).as_deref(), Some("svc.example"));
        let email = certificate(None, &[(0x86, "spiffe://x/y"), (SAN_EMAIL, "bob@x")]);
        assert_eq!(principal(&email).as_deref(), Some("bob@x"));
        assert_eq!(principal(&certificate(None, &[])), None);
    }

    #[test]
    fn anything_that_is_not_a_certificate_names_no_one() {
        let good = certificate(Some("alice"), &[]);
        for cut in 0..good.len() {
            let _ = principal(&good[..cut]);
        }
        assert_eq!(principal(b""), None);
        assert_eq!(principal(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(principal(&[0x30, 0x80]), None);
    }
}
