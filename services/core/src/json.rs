//! Strict JSON for request bodies.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array of its fields in order
//! (`["name", 2]` for `{"name": .., "partitions": ..}`), which no client means and which turns
//! a malformed body into stored data. [`Object`] takes a struct from a JSON object only; every
//! body parser wraps its top-level type in it ([`from_slice`]) and every nested struct field
//! that a client sends (a record, a header, an offset) is an `Object<_>` too.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};

/// A `T` that was a JSON object (never an array).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object<T>(pub T);

impl<T> Object<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Object<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Object<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// Parses a body that must be one JSON object of `T`'s shape.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Object<T>>(bytes).map(Object::into_inner)
}

/// Parses a body that must be one JSON object of `T`'s shape, borrowing from `bytes`.
pub fn from_slice_borrowed<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Object<T>>(bytes).map(Object::into_inner)
}

/// JSON text without the whitespace between tokens, as a JSON serializer writes it (Jackson,
/// `JSON.stringify`, serde_json): `{"a": [1, 2]}` becomes `{"a":[1,2]}`. Strings, numbers and
/// key order are kept exactly as given. `text` must be valid JSON.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
