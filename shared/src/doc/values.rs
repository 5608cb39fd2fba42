//! Typed access to Automerge values: strict about types, explicit about absence.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};
use uuid::Uuid;

use super::DocError;

/// A decoder of one value found under `key` (its object id is given for maps).
pub(crate) type Decode<'a, T> = fn(&Value<'a>, &ObjId, &str) -> Result<T, DocError>;

fn wrong(key: &str, expected: &'static str) -> DocError {
    DocError::WrongType {
        key: key.to_owned(),
        expected,
    }
}

pub(crate) fn opt<'a, D: ReadDoc, T>(
    doc: &'a D,
    obj: &ObjId,
    key: &str,
    decode: Decode<'a, T>,
) -> Result<Option<T>, DocError> {
    match doc.get(obj, key)? {
        None => Ok(None),
        Some((value, id)) => decode(&value, &id, key).map(Some),
    }
}

pub(crate) fn req<'a, D: ReadDoc, T>(
    doc: &'a D,
    obj: &ObjId,
    key: &str,
    decode: Decode<'a, T>,
) -> Result<T, DocError> {
    opt(doc, obj, key, decode)?.ok_or_else(|| DocError::MissingKey(key.to_owned()))
}

fn scalar<'v>(v: &'v Value<'_>) -> Option<&'v ScalarValue> {
    match v {
        Value::Scalar(s) => Some(s.as_ref()),
        Value::Object(_) => None,
    }
}

pub(crate) fn as_str(v: &Value<'_>, _: &ObjId, key: &str) -> Result<String, DocError> {
    match scalar(v) {
        Some(ScalarValue::Str(s)) => Ok(s.to_string()),
        _ => Err(wrong(key, "string")),
    }
}

pub(crate) fn as_timestamp(v: &Value<'_>, _: &ObjId, key: &str) -> Result<i64, DocError> {
    match scalar(v) {
        Some(ScalarValue::Timestamp(t)) => Ok(*t),
        _ => Err(wrong(key, "timestamp")),
    }
}

/// Non-negative integer. JS clients write integers as `int`, Rust as `uint`: both are accepted.
pub(crate) fn as_u64(v: &Value<'_>, _: &ObjId, key: &str) -> Result<u64, DocError> {
    match scalar(v) {
        Some(ScalarValue::Uint(n)) => Ok(*n),
        Some(ScalarValue::Int(n)) => {
            u64::try_from(*n).map_err(|_| wrong(key, "non-negative integer"))
        }
        _ => Err(wrong(key, "non-negative integer")),
    }
}

pub(crate) fn as_u32(v: &Value<'_>, id: &ObjId, key: &str) -> Result<u32, DocError> {
    u32::try_from(as_u64(v, id, key)?).map_err(|_| wrong(key, "32-bit integer"))
}

pub(crate) fn as_u8(v: &Value<'_>, id: &ObjId, key: &str) -> Result<u8, DocError> {
    u8::try_from(as_u64(v, id, key)?).map_err(|_| wrong(key, "small integer"))
}

/// A float; integers are accepted too because JS writes `48` as an int.
pub(crate) fn as_f64(v: &Value<'_>, _: &ObjId, key: &str) -> Result<f64, DocError> {
    match scalar(v) {
        Some(ScalarValue::F64(f)) => Ok(*f),
        Some(ScalarValue::Int(n)) => Ok(*n as f64),
        Some(ScalarValue::Uint(n)) => Ok(*n as f64),
        _ => Err(wrong(key, "number")),
    }
}

pub(crate) fn as_bool(v: &Value<'_>, _: &ObjId, key: &str) -> Result<bool, DocError> {
    match scalar(v) {
        Some(ScalarValue::Boolean(b)) => Ok(*b),
        _ => Err(wrong(key, "boolean")),
    }
}

pub(crate) fn as_counter(v: &Value<'_>, _: &ObjId, key: &str) -> Result<i64, DocError> {
    match scalar(v) {
        Some(ScalarValue::Counter(c)) => Ok(i64::from(c)),
        _ => Err(wrong(key, "counter")),
    }
}

pub(crate) fn as_map(v: &Value<'_>, id: &ObjId, key: &str) -> Result<ObjId, DocError> {
    match v {
        Value::Object(ObjType::Map) => Ok(id.clone()),
        _ => Err(wrong(key, "map")),
    }
}

pub(crate) fn as_uuid(v: &Value<'_>, id: &ObjId, key: &str) -> Result<Uuid, DocError> {
    Uuid::parse_str(&as_str(v, id, key)?).map_err(|_| DocError::BadKey(key.to_owned()))
}

/// A string holding one of an enum's codes.
pub(crate) fn code<T>(
    v: &Value<'_>,
    id: &ObjId,
    key: &str,
    from_code: fn(&str) -> Option<T>,
) -> Result<T, DocError> {
    from_code(&as_str(v, id, key)?).ok_or_else(|| DocError::UnknownCode(key.to_owned()))
}

/// A string holding JSON of `T` (used where a value must change atomically).
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    v: &Value<'_>,
    id: &ObjId,
    key: &str,
) -> Result<T, DocError> {
    serde_json::from_str(&as_str(v, id, key)?).map_err(|_| DocError::BadJson(key.to_owned()))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DocError> {
    serde_json::to_string(value).map_err(|_| DocError::Invalid("value does not serialise to JSON"))
}

/// The map under `key`, which must exist.
pub(crate) fn req_map<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Result<ObjId, DocError> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        Some(_) => Err(wrong(key, "map")),
        None => Err(DocError::MissingKey(key.to_owned())),
    }
}

pub(crate) fn put_str<T: Transactable>(
    doc: &mut T,
    obj: &ObjId,
    key: &str,
    value: &str,
) -> Result<(), DocError> {
    doc.put(obj, key, ScalarValue::Str(value.into()))?;
    Ok(())
}

pub(crate) fn put_timestamp<T: Transactable>(
    doc: &mut T,
    obj: &ObjId,
    key: &str,
    ms: i64,
) -> Result<(), DocError> {
    doc.put(obj, key, ScalarValue::Timestamp(ms))?;
    Ok(())
}

pub(crate) fn put_uint<T: Transactable>(
    doc: &mut T,
    obj: &ObjId,
    key: &str,
    n: u64,
) -> Result<(), DocError> {
    doc.put(obj, key, ScalarValue::Uint(n))?;
    Ok(())
}

pub(crate) fn put_bool<T: Transactable>(
    doc: &mut T,
    obj: &ObjId,
    key: &str,
    b: bool,
) -> Result<(), DocError> {
    doc.put(obj, key, ScalarValue::Boolean(b))?;
    Ok(())
}

/// Deletes `key` if present (deleting an absent key would be a pointless op).
pub(crate) fn delete<T: Transactable>(doc: &mut T, obj: &ObjId, key: &str) -> Result<(), DocError> {
    if doc.get(obj, key)?.is_some() {
        doc.delete(obj, key)?;
    }
    Ok(())
}
