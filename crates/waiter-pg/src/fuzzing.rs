//! The fuzzing entry point (`fuzz/fuzz_targets/pg_message.rs`): everything
//! that turns bytes from the server into typed values, with no socket.
//!
//! The cost of one execution is bounded: the first `FULL_DECODES` (32) values
//! of an input are read as every Rust type; later rows are still framed and
//! checked against their columns (`Row::new`), but their values are not
//! decoded. Without the bound a 4 KiB input of a wide row description
//! followed by rows of NULLs meant ~10,000 `try_get`s (about 1 ms, 500 times
//! the median input), and such inputs held the target at ~2,000
//! executions/s. A later value takes the same paths as an earlier one, and
//! the fuzzer can move it earlier, so the bound hides no reachable code.

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;
use std::rc::Rc;

use crate::client::{db_error, rows_affected};
use crate::error::DbError;
use crate::row::{self, Column, Row};
use crate::types::{Date, Timestamp, Uuid};
use crate::wire;

/// How many values of one input are decoded as every supported Rust type.
const FULL_DECODES: usize = 32;

/// Frames `data` as a stream of backend messages (at most `max` bytes
/// each) and decodes each as the driver would: row descriptions, every
/// value of every data row as each Rust type, errors, notices, parameter
/// statuses, notifications and command tags (values after the first
/// [`FULL_DECODES`] are only range-checked). Returns how many messages were
/// framed. Must never panic, whatever the bytes.
#[doc(hidden)]
pub fn decode_backend_stream(data: &[u8], max: usize) -> usize {
    let mut buf = BytesMut::from(data);
    let mut columns: Rc<[Column]> = Rc::from(Vec::new());
    let mut count = 0;
    let mut full = FULL_DECODES;
    loop {
        let before = buf.len();
        let message = match wire::decode(&mut buf, max) {
            Ok(Some(m)) => m,
            Ok(None) => {
                assert_eq!(buf.len(), before, "an incomplete message must stay buffered");
                return count;
            }
            Err(_) => return count,
        };
        assert!(buf.len() < before, "a framed message must consume bytes");
        count += 1;
        match message {
            Message::RowDescription(body) => {
                if let Ok(c) = row::columns(&body, None) {
                    columns = c.into();
                }
            }
            Message::DataRow(body) => {
                if let Ok(row) = Row::new(columns.clone(), body) {
                    let n = row.len().min(full);
                    full -= n;
                    for i in 0..n {
                        let _ = row.try_get::<Option<String>>(i);
                        let _ = row.try_get::<Option<i64>>(i);
                        let _ = row.try_get::<Option<i32>>(i);
                        let _ = row.try_get::<Option<i16>>(i);
                        let _ = row.try_get::<Option<f64>>(i);
                        let _ = row.try_get::<Option<bool>>(i);
                        let _ = row.try_get::<Option<Vec<u8>>>(i);
                        let _ = row
                            .try_get::<Option<Timestamp>>(i)
                            .map(|t| t.map(|t| (t.to_string(), t.to_system_time())));
                        let _ = row.try_get::<Option<Date>>(i).map(|d| d.map(|d| d.to_string()));
                        let _ = row.try_get::<Option<Uuid>>(i).map(|u| u.map(|u| u.to_string()));
                    }
                }
            }
            Message::ErrorResponse(body) => {
                let _ = db_error(&body).to_string();
            }
            Message::NoticeResponse(body) => {
                let _ = DbError::parse(&mut body.fields());
            }
            Message::CommandComplete(body) => {
                let _ = rows_affected(&body);
            }
            Message::ParameterStatus(body) => {
                let _ = (body.name(), body.value());
            }
            Message::NotificationResponse(body) => {
                let _ = (body.channel(), body.message());
            }
            other => {
                let _ = wire::name(&other);
            }
        }
    }
}
