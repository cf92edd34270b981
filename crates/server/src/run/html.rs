//! HTML pieces the reports and the web UI share: escaping, an SVG line chart with trade
//! markers, and a table.

use std::fmt::Write as _;

/// Text made safe inside HTML (elements and quoted attributes).
#[must_use]
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG line chart of `values` (evenly spaced), with optional markers at
/// `(index, value, is_buy)` (green up for buys, red down for sells).
#[must_use]
pub fn line_chart(
    title: &str,
    values: &[f64],
    color: &str,
    markers: &[(usize, f64, bool)],
    fmt: fn(f64) -> String,
) -> String {
    let (w, h, pad) = (900.0, 220.0, 40.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        esc(title)
    );
    if values.is_empty() {
        svg.push_str("<text x=\"20\" y=\"40\">no data</text></svg></figure>");
        return svg;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    #[allow(clippy::cast_precision_loss)]
    let n = (values.len().max(2) - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / n;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - lo) / span;
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#bbb\"/><text x=\"2\" y=\"{2}\" font-size=\"11\">{3}</text><text x=\"2\" y=\"{4}\" font-size=\"11\">{5}</text>",
        h - pad,
        w - pad,
        y(hi) + 4.0,
        esc(&fmt(hi)),
        y(lo) + 4.0,
        esc(&fmt(lo))
    );
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(i),
            y(*v)
        );
    }
    let _ = write!(
        svg,
        "<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>"
    );
    for (i, v, buy) in markers {
        let (fill, shape) = if *buy {
            (
                "#1a7f37",
                format!(
                    "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x(*i),
                    y(*v) - 6.0,
                    x(*i) - 5.0,
                    y(*v) + 4.0,
                    x(*i) + 5.0,
                    y(*v) + 4.0
                ),
            )
        } else {
            (
                "#cf222e",
                format!(
                    "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x(*i),
                    y(*v) + 6.0,
                    x(*i) - 5.0,
                    y(*v) - 4.0,
                    x(*i) + 5.0,
                    y(*v) - 4.0
                ),
            )
        };
        let _ = write!(svg, "<polygon points=\"{shape}\" fill=\"{fill}\"/>");
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A table of at most `limit` rows; `total` says how many there are, and when the table
/// shows fewer a note follows saying so and where the rest are (`rest`). Cells are escaped.
#[must_use]
pub fn table(
    head: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    limit: usize,
    total: usize,
    rest: &str,
) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(t, "<th scope=\"col\">{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows.take(limit) {
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{}</td>", esc(&cell));
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    if total > limit {
        let _ = write!(
            t,
            "<p class=\"note\">First {limit} of {total}; {}.</p>",
            esc(rest)
        );
    }
    t
}
