//! Result rows: the column descriptions of a result and one `DataRow`'s
//! values, read by index or name into any [`FromSql`] type.

use std::ops::Range;
use std::rc::Rc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::{DataRowBody, RowDescriptionBody};

use crate::error::{ColumnError, Error};
use crate::types::{Format, FromSql, Type};

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name (its alias).
    pub name: String,
    /// The column's type.
    pub ty: Type,
    /// The format its values arrive in.
    pub format: Format,
}

/// Reads the columns of a `RowDescription`; `formats` overrides the formats
/// it states (a statement's description says text until a Bind asks otherwise).
pub(crate) fn columns(
    body: &RowDescriptionBody,
    formats: Option<&dyn Fn(Type) -> Format>,
) -> Result<Vec<Column>, Error> {
    let mut fields = body.fields();
    let mut out = Vec::new();
    while let Some(field) = fields.next().map_err(|e| Error::protocol(format!("bad RowDescription: {e}")))? {
        let ty = Type(field.type_oid());
        let format = match formats {
            Some(choose) => choose(ty),
            None if field.format() == 1 => Format::Binary,
            None => Format::Text,
        };
        out.push(Column { name: field.name().to_string(), ty, format });
    }
    Ok(out)
}

/// A column index: a position or a name.
pub trait RowIndex {
    /// The position of this column among `columns`.
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl RowIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl RowIndex for &str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == *self)
    }
}

/// One row of a result.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Rc<[Column]>,
    body: DataRowBody,
    /// INVARIANT: one entry per column; each range lies within `body.buffer()`.
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    /// Checks a `DataRow` against its columns.
    pub(crate) fn new(columns: Rc<[Column]>, body: DataRowBody) -> Result<Row, Error> {
        let ranges: Vec<_> =
            body.ranges().collect().map_err(|e| Error::protocol(format!("bad DataRow: {e}")))?;
        if ranges.len() != columns.len() {
            return Err(Error::protocol(format!(
                "DataRow has {} values for {} columns",
                ranges.len(),
                columns.len()
            )));
        }
        Ok(Row { columns, body, ranges })
    }

    /// The row's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The raw bytes of a value (`None` for NULL).
    pub fn raw(&self, idx: impl RowIndex) -> Option<&[u8]> {
        let i = idx.index(&self.columns)?;
        self.ranges[i].clone().map(|r| &self.body.buffer()[r])
    }

    /// The value of a column, decoded as `T`.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] naming the column and both types when the column
    /// does not exist, the types do not match, or the value is malformed;
    /// NULL is an error unless `T` is an `Option`.
    pub fn try_get<T: FromSql>(&self, idx: impl RowIndex) -> Result<T, Error> {
        let rust_type = std::any::type_name::<T>();
        let Some(i) = idx.index(&self.columns) else {
            return Err(Error::Usage(format!(
                "no such column (the row has {:?})",
                self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()
            )));
        };
        let column = &self.columns[i];
        let decoded = match &self.ranges[i] {
            Some(r) => T::from_sql(column.ty, column.format, &self.body.buffer()[r.clone()]),
            None => T::from_null(column.ty),
        };
        decoded.map_err(|reason| {
            Error::Decode(Box::new(ColumnError {
                column: i,
                name: column.name.clone(),
                type_name: column.ty.name(),
                rust_type,
                reason,
            }))
        })
    }

    /// The value of a column, decoded as `T`.
    ///
    /// # Panics
    ///
    /// Where [`try_get`](Self::try_get) returns an error, with its message.
    pub fn get<T: FromSql>(&self, idx: impl RowIndex) -> T {
        self.try_get(idx).unwrap_or_else(|e| panic!("{e}"))
    }
}
