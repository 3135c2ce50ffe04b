//! UTC calendar fields from seconds since the epoch, for the two places that
//! print dates in their own format (access-log lines and directory listings);
//! HTTP dates go through `httpdate`.

/// A UTC date and time of day.
pub(crate) struct Utc {
    pub year: i64,
    /// 1–12.
    pub month: i64,
    /// 1–31.
    pub day: i64,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

impl Utc {
    /// The UTC fields of `secs` seconds after 1970-01-01T00:00:00Z.
    pub fn from_secs(secs: u64) -> Utc {
        let rest = secs % 86_400;
        // Howard Hinnant's `civil_from_days`, for days since 1970-01-01 (no negatives here).
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc { year, month, day, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60 }
    }
}
