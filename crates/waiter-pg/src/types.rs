//! PostgreSQL types and the conversions between their wire formats and Rust
//! values: [`FromSql`] for result columns, [`ToSql`] for `$n` parameters.
//!
//! Results of the extended protocol come in the binary format for the types
//! below ([`Type::binary_result`]) and in the text format for the rest
//! (numeric, intervals, arrays, ...), so `String` reads any column. Results
//! of the simple protocol are always text; every impl reads both.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use postgres_protocol::types as wire;

#[cfg(feature = "serde")]
pub use crate::json::Json;

/// A PostgreSQL type, by OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Type(pub u32);

macro_rules! types {
    ($($name:ident = $oid:literal, $sql:literal;)*) => {
        impl Type {
            $(
                #[doc = concat!("`", $sql, "`")]
                pub const $name: Type = Type($oid);
            )*

            /// The type's SQL name, or `oid <n>` for types this crate does not know.
            pub fn name(self) -> String {
                match self.0 {
                    $($oid => $sql.to_string(),)*
                    oid => format!("oid {oid}"),
                }
            }
        }
    };
}

types! {
    BOOL = 16, "bool";
    BYTEA = 17, "bytea";
    CHAR = 18, "\"char\"";
    NAME = 19, "name";
    INT8 = 20, "int8";
    INT2 = 21, "int2";
    INT4 = 23, "int4";
    TEXT = 25, "text";
    OID = 26, "oid";
    JSON = 114, "json";
    XML = 142, "xml";
    FLOAT4 = 700, "float4";
    FLOAT8 = 701, "float8";
    UNKNOWN = 705, "unknown";
    BPCHAR = 1042, "bpchar";
    VARCHAR = 1043, "varchar";
    DATE = 1082, "date";
    TIME = 1083, "time";
    TIMESTAMP = 1114, "timestamp";
    TIMESTAMPTZ = 1184, "timestamptz";
    INTERVAL = 1186, "interval";
    NUMERIC = 1700, "numeric";
    UUID = 2950, "uuid";
    JSONB = 3802, "jsonb";
    VOID = 2278, "void";
}

impl Type {
    /// Whether values of this type travel as UTF-8 text in both formats.
    pub fn is_text_like(self) -> bool {
        matches!(
            self,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON | Type::XML
        )
    }

    /// Whether result columns of this type are requested in the binary
    /// format (the types this module decodes from binary).
    pub fn binary_result(self) -> bool {
        self.is_text_like()
            || matches!(
                self,
                Type::BOOL
                    | Type::BYTEA
                    | Type::INT2
                    | Type::INT4
                    | Type::INT8
                    | Type::OID
                    | Type::FLOAT4
                    | Type::FLOAT8
                    | Type::DATE
                    | Type::TIMESTAMP
                    | Type::TIMESTAMPTZ
                    | Type::UUID
                    | Type::JSONB
            )
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A value's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The type's text representation (`'t'`, `'42'`, `'2024-01-02'`).
    Text = 0,
    /// The type's binary `send`/`recv` representation.
    Binary = 1,
}

/// What a decoding failure says; [`crate::Row`] adds the column.
pub type DecodeError = String;

/// A Rust type read from a result column.
pub trait FromSql: Sized {
    /// Decodes a non-NULL value of type `ty` in `format`.
    ///
    /// # Errors
    ///
    /// A message when `ty` is not a type this Rust type reads, or `raw` is malformed.
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError>;

    /// The value for SQL NULL: an error unless overridden (as `Option` does).
    ///
    /// # Errors
    ///
    /// "unexpected NULL".
    fn from_null(ty: Type) -> Result<Self, DecodeError> {
        let _ = ty;
        Err("unexpected NULL (read it as an Option)".into())
    }
}

/// Whether an encoded parameter is NULL.
pub use postgres_protocol::IsNull;

/// A Rust value sent as a `$n` parameter.
pub trait ToSql {
    /// The format this value is sent in for parameter type `ty`.
    fn format(&self, ty: Type) -> Format {
        let _ = ty;
        Format::Binary
    }

    /// Appends the value, in [`format`](Self::format), for parameter type `ty`.
    ///
    /// # Errors
    ///
    /// A message when the value does not fit `ty`.
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError>;
}

fn wrong_type(ty: Type, rust: &str) -> DecodeError {
    format!("a {ty} column cannot be read as {rust}")
}

fn text(raw: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))
}

fn parse_text<T: FromStr>(raw: &[u8]) -> Result<T, DecodeError>
where
    T::Err: fmt::Display,
{
    let s = text(raw)?;
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

fn boxed(e: Box<dyn std::error::Error + Sync + Send>) -> DecodeError {
    e.to_string()
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        T::from_sql(ty, format, raw).map(Some)
    }

    fn from_null(_: Type) -> Result<Self, DecodeError> {
        Ok(None)
    }
}

impl FromSql for bool {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::BOOL, Format::Binary) => wire::bool_from_sql(raw).map_err(boxed),
            (Type::BOOL, Format::Text) => match raw {
                b"t" => Ok(true),
                b"f" => Ok(false),
                _ => Err(format!("{:?} is not a bool", String::from_utf8_lossy(raw))),
            },
            _ => Err(wrong_type(ty, "bool")),
        }
    }
}

/// Integers read any narrower-or-equal PostgreSQL integer type.
macro_rules! int_from_sql {
    ($rust:ty, $($pg:ident),*) => {
        impl FromSql for $rust {
            fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
                if !matches!(ty, $(Type::$pg)|*) {
                    return Err(wrong_type(ty, stringify!($rust)));
                }
                if format == Format::Text {
                    return parse_text(raw);
                }
                let v: i64 = match ty {
                    Type::INT2 => wire::int2_from_sql(raw).map_err(boxed)?.into(),
                    Type::INT4 => wire::int4_from_sql(raw).map_err(boxed)?.into(),
                    Type::OID => wire::oid_from_sql(raw).map_err(boxed)?.into(),
                    _ => wire::int8_from_sql(raw).map_err(boxed)?,
                };
                <$rust>::try_from(v).map_err(|_| format!("{v} out of range"))
            }
        }
    };
}
int_from_sql!(i16, INT2);
int_from_sql!(i32, INT2, INT4);
int_from_sql!(i64, INT2, INT4, INT8, OID);
int_from_sql!(u32, OID);

impl FromSql for f32 {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::FLOAT4, Format::Binary) => wire::float4_from_sql(raw).map_err(boxed),
            (Type::FLOAT4, Format::Text) => parse_text(raw),
            _ => Err(wrong_type(ty, "f32")),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::FLOAT8, Format::Binary) => wire::float8_from_sql(raw).map_err(boxed),
            (Type::FLOAT4, Format::Binary) => wire::float4_from_sql(raw).map(f64::from).map_err(boxed),
            // As an f32 first, so that both formats give the same f64 (0.1::float4
            // is 0.10000000149011612, not 0.1).
            (Type::FLOAT4, Format::Text) => parse_text::<f32>(raw).map(f64::from),
            (Type::FLOAT8, Format::Text) => parse_text(raw),
            _ => Err(wrong_type(ty, "f64")),
        }
    }
}

impl FromSql for String {
    /// Any column in the text format; text-like columns and jsonb in binary.
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        let raw = match (ty, format) {
            (_, Format::Text) => raw,
            (Type::JSONB, Format::Binary) => match raw.split_first() {
                Some((1, json)) => json,
                _ => return Err("unsupported jsonb version".into()),
            },
            (ty, Format::Binary) if ty.is_text_like() => raw,
            _ => return Err(wrong_type(ty, "String (binary format)")),
        };
        text(raw).map(str::to_owned)
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::BYTEA, Format::Binary) => Ok(raw.to_vec()),
            (Type::BYTEA, Format::Text) if raw.starts_with(b"\\x") => decode_bytea_hex(raw),
            (Type::BYTEA, Format::Text) => decode_bytea_escape(raw),
            _ => Err(wrong_type(ty, "Vec<u8>")),
        }
    }
}

fn decode_bytea_hex(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let hex = raw.strip_prefix(b"\\x").ok_or("bytea text is not in hex format")?;
    if hex.len() % 2 != 0 {
        return Err("odd-length bytea hex".into());
    }
    hex.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| "invalid bytea hex digit".to_string())
        })
        .collect()
}

/// The text of `bytea_output = 'escape'`: printable bytes as themselves,
/// `\\` for a backslash, `\ooo` (three octal digits) for any other byte.
fn decode_bytea_escape(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'\\' {
            out.push(b);
            rest = tail;
        } else if tail.first() == Some(&b'\\') {
            out.push(b'\\');
            rest = &tail[1..];
        } else {
            let octal = tail.get(..3).filter(|d| d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
            let d = octal.ok_or("invalid bytea escape")?;
            out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
            rest = &tail[3..];
        }
    }
    Ok(out)
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A `timestamp` or `timestamptz`: microseconds since 2000-01-01 00:00:00
/// (UTC for `timestamptz`), with PostgreSQL's `infinity`/`-infinity` as
/// `i64::MAX`/`i64::MIN`. Displays as PostgreSQL does with `DateStyle` ISO,
/// without a zone: `2024-02-29 13:14:15.5`, `0044-03-15 12:00:00 BC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `infinity`.
    pub const INFINITY: Timestamp = Timestamp(i64::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Timestamp = Timestamp(i64::MIN);

    /// The timestamp `micros` microseconds after the Unix epoch.
    pub fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp(micros.saturating_sub(PG_EPOCH_UNIX_MICROS))
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        self.0.saturating_add(PG_EPOCH_UNIX_MICROS)
    }

    /// The text PostgreSQL reads back as this instant in any zone: `+00`
    /// before a BC era, and no zone on the infinities.
    fn utc_text(self) -> String {
        let text = self.to_string();
        if self == Timestamp::INFINITY || self == Timestamp::NEG_INFINITY {
            return text;
        }
        match text.strip_suffix(" BC") {
            Some(ad) => format!("{ad}+00 BC"),
            None => format!("{text}+00"),
        }
    }

    /// The `SystemTime`, for finite timestamps.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self == Timestamp::INFINITY || self == Timestamp::NEG_INFINITY {
            return None;
        }
        let unix = self.unix_micros();
        let magnitude = Duration::from_micros(unix.unsigned_abs());
        if unix >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }

    /// The timestamp of a `SystemTime`.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        let micros = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Timestamp::from_unix_micros(micros)
    }

    /// Parses PostgreSQL's ISO output: `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]`,
    /// `infinity` or `-infinity`; an offset converts the result to UTC.
    fn parse(s: &str) -> Result<Timestamp, DecodeError> {
        match s {
            "infinity" => return Ok(Timestamp::INFINITY),
            "-infinity" => return Ok(Timestamp::NEG_INFINITY),
            _ => {}
        }
        let bad = || format!("{s:?} is not an ISO timestamp");
        let (ad, bc) = match s.strip_suffix(" BC") {
            Some(ad) => (ad, true),
            None => (s, false),
        };
        let (date, time) = ad.split_once(' ').ok_or_else(bad)?;
        let days = i64::from(Date::parse_ymd(date, bc)?.0);
        let (clock, offset_secs) = match time.find(['+', '-']) {
            Some(i) => {
                let sign = if time.as_bytes()[i] == b'-' { -1 } else { 1 };
                let mut secs = 0i64;
                for (n, part) in time[i + 1..].split(':').enumerate() {
                    let v: i64 = part.parse().ok().filter(|v| (0..100).contains(v)).ok_or_else(bad)?;
                    secs += v * [3600, 60, 1].get(n).ok_or_else(bad)?;
                }
                (&time[..i], sign * secs)
            }
            None => (time, 0),
        };
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts =
            hms.split(':').map(|p| p.parse::<i64>().ok().filter(|v| (0..=60).contains(v)).ok_or_else(bad));
        let (h, m, sec) =
            (parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??, parts.next().ok_or_else(bad)??);
        if parts.next().is_some() || h > 24 || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let micros_frac = format!("{frac:0<6}").parse::<i64>().map_err(|_| bad())?;
        let secs = h * 3600 + m * 60 + sec - offset_secs;
        days.checked_mul(MICROS_PER_DAY)
            .and_then(|d| d.checked_add(secs * 1_000_000 + micros_frac))
            .map(Timestamp)
            .ok_or_else(|| format!("{s:?} is out of range"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timestamp::INFINITY => return f.write_str("infinity"),
            Timestamp::NEG_INFINITY => return f.write_str("-infinity"),
            _ => {}
        }
        // i64 microseconds span fewer than i32::MAX days.
        let days = self.0.div_euclid(MICROS_PER_DAY) as i32;
        let micros = self.0.rem_euclid(MICROS_PER_DAY);
        let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
        let bc = Date(days).write_ymd(f)?;
        write!(f, " {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)?;
        if frac != 0 {
            write!(f, ".{frac:06}")?;
        }
        if bc {
            f.write_str(" BC")?;
        }
        Ok(())
    }
}

impl FromSql for Timestamp {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::TIMESTAMP | Type::TIMESTAMPTZ, Format::Binary) => {
                wire::timestamp_from_sql(raw).map(Timestamp).map_err(boxed)
            }
            (Type::TIMESTAMP | Type::TIMESTAMPTZ, Format::Text) => Timestamp::parse(text(raw)?),
            _ => Err(wrong_type(ty, "Timestamp")),
        }
    }
}

impl FromSql for SystemTime {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        Timestamp::from_sql(ty, format, raw)?
            .to_system_time()
            .ok_or_else(|| "an infinite timestamp has no SystemTime".into())
    }
}

/// A `date`: days since 2000-01-01, `i32::MAX`/`i32::MIN` for `infinity`/`-infinity`.
/// Years are proleptic Gregorian, 1 BC being year 0 ([`Date::from_ymd`]`(-43, 3, 15)`
/// is 44 BC); displays as PostgreSQL does: `0044-03-15 BC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// The date of a proleptic Gregorian year, month (1–12) and day (1–31).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Date {
        // Howard Hinnant's days_from_civil, shifted to PostgreSQL's epoch.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Date((era * 146_097 + doe - 719_468 - 10_957) as i32)
    }

    /// The (year, month, day) of this date.
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = i64::from(self.0) + 10_957 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        ((yoe + era * 400 + i64::from(m <= 2)) as i32, m, d)
    }

    /// Parses PostgreSQL's ISO output: `YYYY-MM-DD[ BC]`, `infinity` or `-infinity`.
    fn parse(s: &str) -> Result<Date, DecodeError> {
        match s {
            "infinity" => Ok(Date(i32::MAX)),
            "-infinity" => Ok(Date(i32::MIN)),
            _ => match s.strip_suffix(" BC") {
                Some(date) => Date::parse_ymd(date, true),
                None => Date::parse_ymd(s, false),
            },
        }
    }

    /// Parses `YYYY-MM-DD`, the year counted in the era `bc` says: 1 BC is
    /// the proleptic Gregorian year 0, as PostgreSQL reckons.
    fn parse_ymd(s: &str, bc: bool) -> Result<Date, DecodeError> {
        let bad = || format!("{s:?} is not an ISO date");
        let mut parts = s.splitn(3, '-');
        // PostgreSQL's own date range: 4714 BC to 5874897 AD.
        let years = if bc { 1..=4_714 } else { 1..=5_874_897 };
        let y: i32 =
            parts.next().and_then(|p| p.parse().ok()).filter(|y| years.contains(y)).ok_or_else(bad)?;
        let m: u32 =
            parts.next().and_then(|p| p.parse().ok()).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
        let d: u32 =
            parts.next().and_then(|p| p.parse().ok()).filter(|d| (1..=31).contains(d)).ok_or_else(bad)?;
        Ok(Date::from_ymd(if bc { 1 - y } else { y }, m, d))
    }

    /// Writes `YYYY-MM-DD` as PostgreSQL does, a year up to 0 as the year
    /// of the BC era; says whether it was one (the caller writes " BC").
    fn write_ymd(self, f: &mut fmt::Formatter<'_>) -> Result<bool, fmt::Error> {
        let (y, m, d) = self.ymd();
        let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
        write!(f, "{year:04}-{m:02}-{d:02}")?;
        Ok(bc)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            i32::MAX => f.write_str("infinity"),
            i32::MIN => f.write_str("-infinity"),
            _ => {
                if self.write_ymd(f)? {
                    f.write_str(" BC")?;
                }
                Ok(())
            }
        }
    }
}

impl FromSql for Date {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::DATE, Format::Binary) => wire::date_from_sql(raw).map(Date).map_err(boxed),
            (Type::DATE, Format::Text) => Date::parse(text(raw)?),
            _ => Err(wrong_type(ty, "Date")),
        }
    }
}

/// A `uuid`'s 16 bytes; displays and parses in the 8-4-4-4-12 hex form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub [u8; 16]);

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for Uuid {
    type Err = DecodeError;

    /// Parses the hex form, with or without hyphens or braces.
    fn from_str(s: &str) -> Result<Uuid, DecodeError> {
        let hex: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'-' | b'{' | b'}')).collect();
        let bad = || format!("{s:?} is not a uuid");
        if hex.len() != 32 {
            return Err(bad());
        }
        let mut out = [0; 16];
        for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
            *o = std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(bad)?;
        }
        Ok(Uuid(out))
    }
}

impl FromSql for Uuid {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Self, DecodeError> {
        match (ty, format) {
            (Type::UUID, Format::Binary) => wire::uuid_from_sql(raw).map(Uuid).map_err(boxed),
            (Type::UUID, Format::Text) => text(raw)?.parse(),
            _ => Err(wrong_type(ty, "Uuid")),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn format(&self, ty: Type) -> Format {
        (**self).format(ty)
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        (**self).to_sql(ty, out)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn format(&self, ty: Type) -> Format {
        self.as_ref().map_or(Format::Binary, |v| v.format(ty))
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        match self {
            Some(v) => v.to_sql(ty, out),
            None => Ok(IsNull::Yes),
        }
    }
}

/// Strings go in the text format, which the server parses as the
/// parameter's type: a `&str` fills a parameter of any type.
impl ToSql for str {
    fn format(&self, _: Type) -> Format {
        Format::Text
    }

    fn to_sql(&self, _: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        out.put_slice(self.as_bytes());
        Ok(IsNull::No)
    }
}

impl ToSql for String {
    fn format(&self, ty: Type) -> Format {
        self.as_str().format(ty)
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        self.as_str().to_sql(ty, out)
    }
}

impl ToSql for bool {
    fn format(&self, ty: Type) -> Format {
        if ty == Type::BOOL {
            Format::Binary
        } else {
            Format::Text
        }
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        match ty {
            Type::BOOL => wire::bool_to_sql(*self, out),
            _ => out.put_slice(if *self { b"t" } else { b"f" }),
        }
        Ok(IsNull::No)
    }
}

/// Numbers go in binary to a parameter of a matching numeric type (range-checked),
/// and as decimal text to any other (numeric, text, unknown).
macro_rules! number_to_sql {
    ($($rust:ty),*) => {$(
        impl ToSql for $rust {
            fn format(&self, ty: Type) -> Format {
                match ty {
                    Type::INT2 | Type::INT4 | Type::INT8 | Type::OID | Type::FLOAT4 | Type::FLOAT8 => Format::Binary,
                    _ => Format::Text,
                }
            }

            #[allow(clippy::cast_lossless, clippy::unnecessary_cast)]
            fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
                let v = *self;
                let range = || format!("{v} does not fit {ty}");
                match ty {
                    Type::INT2 => wire::int2_to_sql(v.exact_int()?.try_into().map_err(|_| range())?, out),
                    Type::INT4 => wire::int4_to_sql(v.exact_int()?.try_into().map_err(|_| range())?, out),
                    Type::INT8 => wire::int8_to_sql(v.exact_int()?, out),
                    Type::OID => wire::oid_to_sql(v.exact_int()?.try_into().map_err(|_| range())?, out),
                    Type::FLOAT4 => wire::float4_to_sql(v as f32, out),
                    Type::FLOAT8 => wire::float8_to_sql(v as f64, out),
                    _ => out.put_slice(v.decimal_text().as_bytes()),
                }
                Ok(IsNull::No)
            }
        }
    )*};
}
number_to_sql!(i16, i32, i64, u32, f32, f64);

/// The integer a number stands for, for an integer parameter, and its
/// text for any other.
trait ExactInt {
    fn exact_int(self) -> Result<i64, DecodeError>;
    fn decimal_text(self) -> String;
}

macro_rules! exact_int {
    (int: $($int:ty),*; float: $($float:ty),*) => {
        $(impl ExactInt for $int {
            fn exact_int(self) -> Result<i64, DecodeError> {
                Ok(i64::from(self))
            }

            fn decimal_text(self) -> String {
                self.to_string()
            }
        })*
        $(impl ExactInt for $float {
            // Through the decimal form, so a float stays exact up to i64's range.
            fn exact_int(self) -> Result<i64, DecodeError> {
                self.to_string().parse::<i64>().map_err(|_| format!("{self} is not an integer"))
            }

            // PostgreSQL's spellings: Rust's `inf` is no numeric to the server.
            fn decimal_text(self) -> String {
                if self.is_nan() {
                    "NaN".into()
                } else if self.is_infinite() {
                    (if self > 0.0 { "Infinity" } else { "-Infinity" }).into()
                } else {
                    self.to_string()
                }
            }
        })*
    };
}
exact_int!(int: i16, i32, i64, u32; float: f32, f64);

impl ToSql for [u8] {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        if ty != Type::BYTEA {
            return Err(format!("bytes go to bytea parameters, not {ty}"));
        }
        wire::bytea_to_sql(self, out);
        Ok(IsNull::No)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        self.as_slice().to_sql(ty, out)
    }
}

impl ToSql for Timestamp {
    fn format(&self, ty: Type) -> Format {
        if matches!(ty, Type::TIMESTAMP | Type::TIMESTAMPTZ) {
            Format::Binary
        } else {
            Format::Text
        }
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        match ty {
            Type::TIMESTAMP | Type::TIMESTAMPTZ => wire::timestamp_to_sql(self.0, out),
            Type::TEXT | Type::UNKNOWN => out.put_slice(self.utc_text().as_bytes()),
            _ => return Err(format!("a Timestamp goes to timestamp(tz) parameters, not {ty}")),
        }
        Ok(IsNull::No)
    }
}

impl ToSql for SystemTime {
    fn format(&self, ty: Type) -> Format {
        Timestamp::from_system_time(*self).format(ty)
    }

    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        Timestamp::from_system_time(*self).to_sql(ty, out)
    }
}

impl ToSql for Date {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        if ty != Type::DATE {
            return Err(format!("a Date goes to date parameters, not {ty}"));
        }
        wire::date_to_sql(self.0, out);
        Ok(IsNull::No)
    }
}

impl ToSql for Uuid {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<IsNull, DecodeError> {
        if ty != Type::UUID {
            return Err(format!("a Uuid goes to uuid parameters, not {ty}"));
        }
        wire::uuid_to_sql(self.0, out);
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_civil() {
        assert_eq!(Date::from_ymd(2000, 1, 1), Date(0));
        assert_eq!(Date::from_ymd(1970, 1, 1), Date(-10_957));
        for days in [-800_000, -10_957, -1, 0, 59, 60, 365, 8_000, 3_000_000] {
            let (y, m, d) = Date(days).ymd();
            assert_eq!(Date::from_ymd(y, m, d), Date(days), "{y}-{m}-{d}");
        }
        assert_eq!(Date(59).to_string(), "2000-02-29");
    }

    #[test]
    fn timestamps_parse_postgres_iso_output() {
        let t = Timestamp::parse("2024-03-01 12:34:56.5+05:30").unwrap();
        assert_eq!(t.to_string(), "2024-03-01 07:04:56.500000");
        assert_eq!(Timestamp::parse("1999-12-31 23:59:59").unwrap(), Timestamp(-1_000_000));
        assert_eq!(Timestamp::parse("infinity").unwrap(), Timestamp::INFINITY);
        for bad in ["2024-03-01", "2024-13-01 00:00:00", "2024-03-01 1:2", "2024-03-01 00:00:00.1234567"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bc_dates_and_timestamps_read_and_display_as_postgres_writes_them() {
        let ides = Date::from_ymd(-43, 3, 15);
        assert_eq!(Date::parse("0044-03-15 BC").unwrap(), ides);
        assert_eq!(ides.to_string(), "0044-03-15 BC");
        assert_eq!(Date::from_ymd(0, 12, 31).to_string(), "0001-12-31 BC");
        assert_eq!(Date::from_ymd(1, 1, 1).to_string(), "0001-01-01");
        let noon = Timestamp(i64::from(ides.0) * MICROS_PER_DAY + 12 * 3_600_000_000);
        assert_eq!(Timestamp::parse("0044-03-15 12:00:00 BC").unwrap(), noon);
        assert_eq!(Timestamp::parse("0044-03-15 13:00:00+01 BC").unwrap(), noon);
        assert_eq!(noon.to_string(), "0044-03-15 12:00:00 BC");
        assert_eq!(noon.utc_text(), "0044-03-15 12:00:00+00 BC");
        assert_eq!(Timestamp::INFINITY.utc_text(), "infinity");
        assert!(Date::parse("0000-01-01 BC").is_err());
    }

    #[test]
    fn a_float4_reads_as_the_same_f64_in_both_formats() {
        let binary = f64::from_sql(Type::FLOAT4, Format::Binary, &0.1f32.to_be_bytes()).unwrap();
        assert_eq!(f64::from_sql(Type::FLOAT4, Format::Text, b"0.1").unwrap(), binary);
        assert_eq!(binary, f64::from(0.1f32));
    }

    #[test]
    fn float_specials_are_sent_in_postgres_spelling() {
        for (v, text) in [(f64::NAN, "NaN"), (f64::INFINITY, "Infinity"), (f64::NEG_INFINITY, "-Infinity")] {
            let mut out = BytesMut::new();
            v.to_sql(Type::NUMERIC, &mut out).unwrap();
            assert_eq!(&out[..], text.as_bytes());
        }
    }

    #[test]
    fn uuid_text_round_trip() {
        let s = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(s.parse::<Uuid>().unwrap().to_string(), s);
        assert!("a0eebc99".parse::<Uuid>().is_err());
    }

    #[test]
    fn integers_check_ranges() {
        let mut out = BytesMut::new();
        assert!(70_000i32.to_sql(Type::INT2, &mut out).is_err());
        assert!(1.5f64.to_sql(Type::INT4, &mut out).is_err());
        assert!(i16::from_sql(Type::INT4, Format::Binary, &[0, 0, 0, 1]).is_err());
        assert_eq!(i64::from_sql(Type::INT4, Format::Binary, &[0, 0, 1, 0]).unwrap(), 256);
    }
}
