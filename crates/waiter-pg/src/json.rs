//! json and jsonb through serde (feature `serde`): [`Json<T>`] reads a
//! column into any `Deserialize` type and sends any `Serialize` value as a
//! parameter; `serde_json::Value` does both directly.
//!
//! Without the feature, json/jsonb columns read as `String` and a JSON
//! parameter is sent as a `&str`.

use std::any::type_name;
use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{DecodeError, Format, FromSql, IsNull, ToSql, Type};

/// jsonb's binary format: this version byte, then the JSON text.
const JSONB_VERSION: u8 = 1;

/// A json or jsonb value as a Rust type, through serde.
///
/// # Examples
///
/// ```no_run
/// use waiter_pg::types::Json;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Settings { theme: String, size: u32 }
///
/// # let lp = waiter_loop::Loop::new().unwrap();
/// # lp.block_on(async {
/// let client = waiter_pg::connect("postgres://waiter@127.0.0.1:5432/waiter").await?;
/// let stored = Json(Settings { theme: "dark".into(), size: 12 });
/// let row = client.query_one("SELECT $1::jsonb AS s", &[&stored]).await?;
/// let Json(settings) = row.get::<Json<Settings>>("s");
/// assert_eq!(settings.size, 12);
/// # Ok::<(), waiter_pg::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: fmt::Debug> fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Json").field(&self.0).finish()
    }
}

/// The JSON text of a json or jsonb value in either format.
fn json_text(ty: Type, format: Format, raw: &[u8]) -> Result<&[u8], DecodeError> {
    match (ty, format) {
        (Type::JSON, _) | (Type::JSONB, Format::Text) => Ok(raw),
        (Type::JSONB, Format::Binary) => match raw.split_first() {
            Some((&JSONB_VERSION, text)) => Ok(text),
            _ => Err("unsupported jsonb version".into()),
        },
        _ => Err(format!("a {ty} column is not json or jsonb")),
    }
}

impl<T: DeserializeOwned> FromSql for Json<T> {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        let text = json_text(ty, format, raw)?;
        serde_json::from_slice(text)
            .map(Json)
            .map_err(|e| format!("JSON does not fit {}: {e}", type_name::<T>()))
    }
}

impl<T: Serialize> ToSql for Json<T> {
    /// Binary to a json or jsonb parameter (the text behind jsonb's version
    /// byte), text to any other, which the server parses as its type.
    fn format(&self, ty: Type) -> Format {
        match ty {
            Type::JSON | Type::JSONB => Format::Binary,
            _ => Format::Text,
        }
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        if ty == Type::JSONB {
            out.put_u8(JSONB_VERSION);
        }
        serde_json::to_writer(out.writer(), &self.0)
            .map_err(|e| format!("{} does not serialize to JSON: {e}", type_name::<T>()))?;
        Ok(IsNull::No)
    }
}

impl FromSql for serde_json::Value {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        Json::from_sql(ty, format, raw).map(|Json(v)| v)
    }
}

impl ToSql for serde_json::Value {
    fn format(&self, ty: Type) -> Format {
        Json(self).format(ty)
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        Json(self).to_sql(ty, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_binary_carries_a_version_byte() {
        let mut out = BytesMut::new();
        Json([1, 2]).to_sql(Type::JSONB, &mut out).unwrap();
        assert_eq!(&out[..], b"\x01[1,2]");
        let back = Json::<Vec<i32>>::from_sql(Type::JSONB, Format::Binary, &out).unwrap();
        assert_eq!(back.0, [1, 2]);
        let e = Json::<Vec<i32>>::from_sql(Type::JSONB, Format::Binary, b"\x02[1]").unwrap_err();
        assert!(e.contains("version"), "{e}");
    }

    #[test]
    fn json_is_plain_text_in_both_formats() {
        let mut out = BytesMut::new();
        Json("a\"b").to_sql(Type::JSON, &mut out).unwrap();
        assert_eq!(&out[..], br#""a\"b""#);
        for format in [Format::Text, Format::Binary] {
            assert_eq!(Json::<String>::from_sql(Type::JSON, format, &out).unwrap().0, "a\"b");
        }
    }

    #[test]
    fn other_types_and_bad_json_are_errors() {
        let e = Json::<i32>::from_sql(Type::TEXT, Format::Text, b"1").unwrap_err();
        assert!(e.contains("not json"), "{e}");
        let e = Json::<i32>::from_sql(Type::JSON, Format::Text, b"\"x\"").unwrap_err();
        assert!(e.contains("i32"), "{e}");
    }
}
