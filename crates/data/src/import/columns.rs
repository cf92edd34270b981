//! Which CSV or Parquet column holds which field.
//!
//! With a header, columns are found by name: the `--columns` map first (`ts=Date,volume=Vol`),
//! then the usual names, case-insensitively (`ts`, `timestamp`, `time`, `date`, `datetime`;
//! `open`/`o`; `high`/`h`; `low`/`l`; `close`/`c`; `volume`/`vol`/`v`; `symbol`/`ticker`). A
//! `date` and a `time` column together are joined into one timestamp. Without a header, the
//! `--columns` map gives 0-based positions (`ts=0,open=1,…`), or the layout is positional:
//! `ts,open,high,low,close,volume`, or `ts,symbol,open,high,low,close,volume` for 7 columns.

use std::collections::BTreeMap;

/// Column positions of the fields of a bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Timestamp column, and an optional separate time-of-day column joined to it.
    pub(crate) ts: (usize, Option<usize>),
    pub(crate) symbol: Option<usize>,
    /// open, high, low, close, volume.
    pub(crate) values: [usize; 5],
}

pub(crate) const FIELDS: [&str; 5] = ["open", "high", "low", "close", "volume"];

fn aliases(field: &str) -> &'static [&'static str] {
    match field {
        "ts" => &[
            "ts",
            "ts_event",
            "timestamp",
            "datetime",
            "date_time",
            "time",
            "date",
            "open_time",
        ],
        "open" => &["open", "o"],
        "high" => &["high", "h"],
        "low" => &["low", "l"],
        "close" => &["close", "c", "last"],
        "volume" => &["volume", "vol", "v"],
        "symbol" => &["symbol", "ticker", "instrument"],
        _ => &[],
    }
}

/// Parses a `--columns` map: `field=name_or_index,...`.
pub(crate) fn parse_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, column) = pair
            .split_once('=')
            .ok_or_else(|| format!("--columns entry {pair:?} is not field=column"))?;
        let field = field.trim().to_ascii_lowercase();
        let known =
            ["ts", "time", "symbol"].contains(&field.as_str()) || FIELDS.contains(&field.as_str());
        if !known {
            return Err(format!(
                "--columns field {field:?} is not one of ts, time, symbol, open, high, low, close, volume"
            ));
        }
        map.insert(field, column.trim().to_owned());
    }
    Ok(map)
}

/// True when the first record looks like a header: it names a field.
pub(crate) fn is_header(first: &[&str], map: &BTreeMap<String, String>) -> bool {
    first.iter().any(|cell| {
        let cell = cell.trim().to_ascii_lowercase();
        map.values().any(|v| v.to_ascii_lowercase() == cell)
            || ["ts", "open", "high", "low", "close", "volume", "symbol"]
                .iter()
                .any(|f| aliases(f).contains(&cell.as_str()))
    })
}

/// Resolves columns from a header row.
pub(crate) fn from_header(
    header: &[&str],
    map: &BTreeMap<String, String>,
) -> Result<Columns, String> {
    let find = |field: &str| -> Option<usize> {
        if let Some(name) = map.get(field) {
            return header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name));
        }
        aliases(field).iter().find_map(|alias| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(alias))
        })
    };
    let missing = |field: &str| match map.get(field) {
        Some(name) => format!(
            "column {name:?} (for {field}) is not in the header: {}",
            header.join(",")
        ),
        None => format!(
            "no {field} column in the header {:?}; map one with --columns {field}=NAME",
            header.join(",")
        ),
    };
    let date = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("date"));
    let time = match map.get("time") {
        Some(name) => Some(
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
                .ok_or_else(|| missing("time"))?,
        ),
        None => header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case("time")),
    };
    let ts = match (map.get("ts"), date, time) {
        (None, Some(d), Some(t)) => (d, Some(t)),
        (Some(_), _, _) if map.contains_key("time") => {
            (find("ts").ok_or_else(|| missing("ts"))?, time)
        }
        _ => (find("ts").ok_or_else(|| missing("ts"))?, None),
    };
    let mut values = [0; 5];
    for (slot, field) in values.iter_mut().zip(FIELDS) {
        *slot = find(field).ok_or_else(|| missing(field))?;
    }
    Ok(Columns {
        ts,
        symbol: find("symbol"),
        values,
    })
}

/// Resolves columns without a header.
pub(crate) fn positional(width: usize, map: &BTreeMap<String, String>) -> Result<Columns, String> {
    if map.is_empty() {
        return match width {
            6 => Ok(Columns {
                ts: (0, None),
                symbol: None,
                values: [1, 2, 3, 4, 5],
            }),
            7 => Ok(Columns {
                ts: (0, None),
                symbol: Some(1),
                values: [2, 3, 4, 5, 6],
            }),
            _ => Err(format!(
                "no header and {width} columns; expected ts,open,high,low,close,volume (6) or \
                 ts,symbol,open,high,low,close,volume (7), or map them with --columns ts=0,open=1,..."
            )),
        };
    }
    let index = |field: &str| -> Result<Option<usize>, String> {
        map.get(field)
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|i| *i < width)
                    .ok_or_else(|| format!("--columns {field}={v}: without a header, give a column number below {width}"))
            })
            .transpose()
    };
    let ts = index("ts")?.ok_or("--columns needs ts=N")?;
    let mut values = [0; 5];
    for (slot, field) in values.iter_mut().zip(FIELDS) {
        *slot = index(field)?.ok_or_else(|| format!("--columns needs {field}=N"))?;
    }
    Ok(Columns {
        ts: (ts, index("time")?),
        symbol: index("symbol")?,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_by_alias_and_map() {
        let none = BTreeMap::new();
        let header = ["ts", "symbol", "open", "high", "low", "close", "volume"];
        assert!(is_header(&header, &none));
        let c = from_header(&header, &none).unwrap();
        assert_eq!(
            c,
            Columns {
                ts: (0, None),
                symbol: Some(1),
                values: [2, 3, 4, 5, 6]
            }
        );
        let yahoo = [
            "Date",
            "Open",
            "High",
            "Low",
            "Close",
            "Adj Close",
            "Volume",
        ];
        assert_eq!(from_header(&yahoo, &none).unwrap().values, [1, 2, 3, 4, 6]);
        let split = ["Date", "Time", "O", "H", "L", "C", "V"];
        assert_eq!(from_header(&split, &none).unwrap().ts, (0, Some(1)));
        let map = parse_map("close=Adj Close").unwrap();
        assert_eq!(from_header(&yahoo, &map).unwrap().values[3], 5);
        let err = from_header(&["when", "open"], &none).unwrap_err();
        assert!(err.contains("no ts column"), "{err}");
    }

    #[test]
    fn positional_layouts() {
        let none = BTreeMap::new();
        assert!(!is_header(
            &["2013-10-07T13:30:00Z", "1", "2", "0.5", "1", "100"],
            &none
        ));
        assert_eq!(positional(6, &none).unwrap().values, [1, 2, 3, 4, 5]);
        assert!(positional(5, &none).is_err());
        let map = parse_map("ts=5,open=0,high=1,low=2,close=3,volume=4").unwrap();
        assert_eq!(positional(6, &map).unwrap().ts, (5, None));
        assert!(
            positional(
                6,
                &parse_map("ts=9,open=0,high=1,low=2,close=3,volume=4").unwrap()
            )
            .is_err()
        );
        assert!(parse_map("price=1").is_err());
        assert!(parse_map("ts").is_err());
    }
}
