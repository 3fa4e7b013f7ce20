//! JSON request bodies with every object key at most once.
//!
//! `serde_json` keeps the last of two equal keys, while other parsers (a
//! proxy, a WAF, the caller's own logging) may keep the first: the same
//! bytes could then mean "capture 100" to them and "capture 200" to us.
//! Refusing duplicates removes that ambiguity. Hand-written because
//! serde_json offers no such option; it is a visitor that builds the same
//! `Value` serde_json would.

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A `Value` whose objects had no repeated key.
pub(crate) struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Value, String> {
        serde_json::from_str::<Strict>(s).map(|s| s.0).map_err(|e| e.to_string())
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_everything_else_reads_as_serde_json_reads_it() {
        for text in [
            r#"{"amount_to_capture":100,"amount_to_capture":200}"#,
            r#"{"lines":[{"amount":1,"description":"a","amount":2}]}"#,
            r#"{"a":{"b":1,"b":1}}"#,
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.contains("duplicate key"), "{text}: {err}");
        }
        for text in [
            r#"{"a":1,"b":[1,-2,3.5,"x",null,true,{"a":1}],"c":{"a":{"a":18446744073709551615}}}"#,
            r#"[]"#,
            r#""s""#,
            r#"{"A":1,"a":2}"#,
        ] {
            assert_eq!(parse(text), serde_json::from_str::<Value>(text).map_err(|e| e.to_string()), "{text}");
        }
    }
}
