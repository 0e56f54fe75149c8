//! The figures of one run: printed as a table and written as JSON, from the same rows.

use serde::Serialize;

/// A target a figure is held to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The value must be at least this.
    AtLeast(f64),
    /// The value must be below this.
    Below(f64),
    /// The value must be at least this fraction of its ceiling.
    RatioAtLeast(f64),
}

impl Target {
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(t) => value >= t,
            Target::Below(t) => value < t,
            // Judged on the ratio by `Row::ratio_target`, never on the value.
            Target::RatioAtLeast(_) => false,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {}", short(t)),
            Target::Below(t) => format!("< {}", short(t)),
            Target::RatioAtLeast(r) => format!(">= {:.0}% of ceiling", r * 100.0),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub workload: String,
    pub figure: String,
    pub value: f64,
    pub unit: String,
    /// The ceiling this figure is compared with, and value / ceiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    /// How each figure was obtained where the table cannot say (seeding, memory resets, skips).
    pub notes: Vec<String>,
    pub machine: serde_json::Value,
}

impl Report {
    pub fn add(&mut self, workload: &str, figure: &str, value: f64, unit: &str) -> &mut Row {
        self.rows.push(Row {
            workload: workload.to_owned(),
            figure: figure.to_owned(),
            value,
            unit: unit.to_owned(),
            ceiling: None,
            ratio: None,
            target: None,
            met: None,
        });
        self.rows.last_mut().expect("just pushed")
    }

    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("note: {text}");
        self.notes.push(text);
    }

    /// The value of an earlier row, for ratios to ceilings measured first.
    pub fn value_of(&self, workload: &str, figure: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.workload == workload && r.figure == figure).map(|r| r.value)
    }

    pub fn table(&self) -> String {
        let header = ["workload", "figure", "value", "unit", "vs ceiling", "target", "met"];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.workload.clone(),
                    r.figure.clone(),
                    short(r.value),
                    r.unit.clone(),
                    match (&r.ceiling, r.ratio) {
                        (Some(c), Some(x)) => format!("{:.0}% of {c}", x * 100.0),
                        _ => String::new(),
                    },
                    r.target.map(Target::describe).unwrap_or_default(),
                    match r.met {
                        Some(true) => "yes".to_owned(),
                        Some(false) => "NO".to_owned(),
                        None => String::new(),
                    },
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: &[String]| {
            let parts: Vec<String> = cols.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("| {} |\n", parts.join(" | "))
        };
        let mut out = line(&header.map(str::to_owned));
        out.push_str(&line(&widths.map(|w| "-".repeat(w))));
        for row in &cells {
            out.push_str(&line(row));
        }
        out
    }
}

impl Row {
    pub fn vs(&mut self, ceiling_name: &str, ceiling: Option<f64>) -> &mut Self {
        if let Some(c) = ceiling.filter(|c| *c > 0.0) {
            self.ceiling = Some(ceiling_name.to_owned());
            self.ratio = Some(self.value / c);
        }
        self
    }

    pub fn target(&mut self, target: Target) -> &mut Self {
        self.target = Some(target);
        self.met = Some(target.met(self.value));
        self
    }

    /// A target on the ratio to the ceiling rather than on the value itself.
    pub fn ratio_target(&mut self, at_least: f64) -> &mut Self {
        self.target = Some(Target::RatioAtLeast(at_least));
        self.met = self.ratio.map(|r| r >= at_least);
        self
    }
}

/// A number short enough for a table cell: three significant figures, no exponent.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_against_its_ceiling_shows_the_ratio_and_whether_the_target_is_met() {
        let mut r = Report::default();
        r.add("ceiling", "seal", 1000.0, "MB/s");
        let seal = r.value_of("ceiling", "seal");
        r.add("large", "upload 1 GiB", 600.0, "MB/s").vs("seal", seal).ratio_target(0.5);
        r.add("small", "p99", 70.0, "ms").target(Target::Below(50.0));
        let t = r.table();
        assert!(t.contains("60% of seal"), "{t}");
        assert!(t.contains("| yes "), "{t}");
        assert!(t.contains("| NO "), "{t}");
        assert_eq!(t.lines().count(), 5, "{t}");
    }

    #[test]
    fn short_numbers_keep_three_significant_figures() {
        assert_eq!(short(1234.5), "1234");
        assert_eq!(short(12.34), "12.3");
        assert_eq!(short(1.234), "1.23");
        assert_eq!(short(0.01234), "0.012");
        assert_eq!(short(0.0), "0");
    }
}
