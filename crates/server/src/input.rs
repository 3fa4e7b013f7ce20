//! Request bodies: read the raw bytes under the size limit, parse JSON, and
//! pull typed fields out with 400s that name the field. Hand-rolled rather
//! than derived with serde so that each wrong type gets its own message and
//! the original's "Missing required fields" wording survives.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::{Map, Value};

use crate::error::ApiError;
use chittycharge_core::CoreError;

/// A JSON object body; `None` when the body was empty.
pub(crate) struct JsonBody(pub Option<Map<String, Value>>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: crate::state::body_limit() }
            } else {
                crate::protect::body::body_error(&rej)
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(None));
        }
        let crate::strict_json::Strict(value) = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadJson { message: format!("Request body is not valid JSON: {e}") })?;
        match value {
            Value::Object(m) => Ok(JsonBody(Some(m))),
            _ => Err(ApiError::BadJson { message: "Request body must be a JSON object".into() }),
        }
    }
}

pub(crate) use chittycharge_domain::text::is_forbidden_char;

/// Refuses free text with control or bidirectional-override characters,
/// naming the field.
pub(crate) fn check_text(name: &str, s: &str) -> Result<(), CoreError> {
    match s.chars().find(|c| is_forbidden_char(*c)) {
        Some(c) => Err(CoreError::validation(
            name,
            format!("{name} contains a control or bidirectional-override character (U+{:04X})", u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// Typed access to the fields of a JSON object.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Refuses a field the request does not take. On the bodies where an
    /// absent amount means "all of it", a misspelled one (`amountToCapture`,
    /// `amout`) would otherwise capture, refund or release everything, as
    /// Stripe refuses an unknown parameter for the same reason.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), CoreError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => {
                let shown: String = k.chars().take(64).collect();
                Err(CoreError::validation(
                    &shown,
                    format!("'{shown}' is not a field of this request, which takes {}", known.join(", ")),
                ))
            }
            None => Ok(()),
        }
    }

    /// Refuses `null` for fields whose absence means "all of it" (a full
    /// capture, a full refund, no damages): a client's NaN or Infinity, or a
    /// value it failed to fill in, arrives as `null`, and must not move the
    /// whole amount. `omitted` says what leaving the field out does.
    pub(crate) fn refuse_null(&self, names: &[&str], omitted: &str) -> Result<(), CoreError> {
        match names.iter().find(|n| self.0.get(**n).is_some_and(Value::is_null)) {
            Some(n) => Err(CoreError::validation(n, format!("{n} is null; leave it out to {omitted}"))),
            None => Ok(()),
        }
    }

    /// An integer amount of minor units. Strings and fractions are refused.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, CoreError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                CoreError::validation(name, format!("{name} must be a whole number of minor units, not {n}"))
            }),
            Some(v) => Err(CoreError::validation(
                name,
                format!("{name} must be an integer number of minor units, not {}", type_name(v)),
            )),
        }
    }

    pub(crate) fn string(&self, name: &str, max_len: usize) -> Result<Option<String>, CoreError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > max_len {
                    return Err(CoreError::validation(name, format!("{name} must be at most {max_len} characters")));
                }
                check_text(name, s)?;
                Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
            }
            Some(v) => Err(CoreError::validation(name, format!("{name} must be a string, not {}", type_name(v)))),
        }
    }

    /// Strings or numbers, as the original accepted for ids like `property_id`.
    pub(crate) fn id(&self, name: &str) -> Result<Option<String>, CoreError> {
        match self.raw(name) {
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => self.string(name, 200),
        }
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, CoreError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(CoreError::validation(name, format!("{name} must be true or false, not {}", type_name(v)))),
        }
    }

    pub(crate) fn object(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, CoreError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(CoreError::validation(name, format!("{name} must be an object, not {}", type_name(v)))),
        }
    }
}

/// An RFC 3339 instant as (the millisecond it falls in, the first millisecond
/// at or after it). Holds are timed to the millisecond: a bound with a finer
/// fraction (`…09.1331Z`) lies between two of them, and "at or after" or
/// "before" it starts at the later one, while "after" or "at or before" it
/// ends with the earlier one.
pub(crate) fn rfc3339_millis(v: &str) -> Option<(i64, i64)> {
    let d = chrono::DateTime::parse_from_rfc3339(v).ok()?;
    let floor = d.timestamp_millis();
    let ceil = if d.timestamp_subsec_nanos() % 1_000_000 == 0 { floor } else { floor.checked_add(1)? };
    Some((floor, ceil))
}
