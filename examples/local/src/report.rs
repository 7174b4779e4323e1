//! The scenario table `make demo` prints.

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Observed what was expected.
    Pass,
    /// Observed something else: the demo exits non-zero.
    Fail,
    /// The control is not built yet; nothing was run, nothing is claimed.
    Planned,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub control: &'static str,
    pub expected: String,
    pub observed: String,
    pub verdict: Verdict,
}

impl Row {
    /// A row whose verdict is decided by comparing observed with expected.
    pub fn checked(
        scenario: &'static str,
        control: &'static str,
        expected: &str,
        observed: String,
    ) -> Self {
        let verdict = if observed == expected {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
        Row {
            scenario,
            control,
            expected: expected.into(),
            observed,
            verdict,
        }
    }

    /// A row for a control that does not exist yet.
    pub fn planned(scenario: &'static str, control: &'static str, expected: &str) -> Self {
        Row {
            scenario,
            control,
            expected: expected.into(),
            observed: "-".into(),
            verdict: Verdict::Planned,
        }
    }
}

/// Render the table as fixed-width text.
pub fn render(rows: &[Row]) -> String {
    let headers = ["scenario", "control", "expected", "observed", "verdict"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let verdict = match r.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Planned => "planned",
            };
            [
                r.scenario.into(),
                r.control.into(),
                r.expected.clone(),
                r.observed.clone(),
                verdict.into(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| -> String {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in &cells {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_fails_and_planned_is_never_pass() {
        assert_eq!(
            Row::checked("s", "MCP-02", "denied", "allowed".into()).verdict,
            Verdict::Fail
        );
        assert_eq!(
            Row::checked("s", "MCP-02", "denied", "denied".into()).verdict,
            Verdict::Pass
        );
        assert_eq!(
            Row::planned("s", "MCP-08", "denied").verdict,
            Verdict::Planned
        );
    }

    #[test]
    fn renders_aligned_columns() {
        let t = render(&[Row::planned("ssrf", "MCP-08", "denied")]);
        assert!(t.lines().nth(2).unwrap().ends_with("planned"));
        assert_eq!(t.lines().count(), 3);
    }
}
