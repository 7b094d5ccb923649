//! The two questionnaires of the stage assessment, their answers and how answers are weighed.
//!
//! - The **broad view**: four questions, one per one-to-one task (identify, differentiate,
//!   interact, customise), each answered on a five-step scale from "not at all" (1) to
//!   "fully" (5).
//! - The **gap tool**: eighteen questions in seven areas, each answered `a` (least
//!   customer-centric) to `d` (most), read as 1, 2.33, 3.67 and 5 on the same scale.
//!
//! Answers come from respondents of several constituencies. Two weights apply, both inverse
//! to a rank: a respondent ranks the seven areas by priority (1 = top), and an area's answers
//! count `1 / rank` in that respondent's score, so the top priorities count most; and a
//! constituency counts in inverse proportion to its rank in the organisation (front line and
//! customers 1, analysts and partners 1/2, managers 1/3, executives 1/4), so the people
//! closest to customers weigh most. The constituencies' answers are then compared area by
//! area: where executives and the front line disagree by a point or more is a finding.
//!
//! Answers are read from CSV text with the header `respondent,constituency,item,answer`,
//! where `item` is a question id (`B1`..`B4`, `G01`..`G18`) or `rank:AREA` with the area's
//! priority as the answer. Every problem names the file, the line and what is wrong.
//!
//! ```
//! use rapport_governance::questionnaire::{Answers, Constituency};
//! let csv = "respondent,constituency,item,answer\n\
//!            ann,front-line,B1,2\n\
//!            bob,executive,B1,4\n";
//! let answers = Answers::parse("answers.csv", csv).unwrap();
//! let summary = answers.summarize();
//! assert_eq!(summary.respondents, 2);
//! // Ann (weight 1) and Bob (weight 1/4): (2 * 1 + 4 * 0.25) / 1.25 = 2.4.
//! assert!((summary.maturity.unwrap() - 2.4).abs() < 1e-9);
//! assert_eq!(summary.by_constituency[&Constituency::FrontLine].maturity, Some(2.0));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who answered: the constituencies the assessment compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Constituency {
    /// Senior managers.
    Executive,
    /// Middle and field managers, customer managers among them.
    Manager,
    /// Analysts and other staff who work on customer data.
    Analyst,
    /// Channel partners.
    Partner,
    /// Gate agents, call-center reps, bankers, desk staff.
    FrontLine,
    /// Customers themselves.
    Customer,
}

impl Constituency {
    /// Every constituency, most senior first.
    pub const ALL: [Constituency; 6] = [
        Constituency::Executive,
        Constituency::Manager,
        Constituency::Analyst,
        Constituency::Partner,
        Constituency::FrontLine,
        Constituency::Customer,
    ];

    /// The kebab-case name used in answer files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Constituency::Executive => "executive",
            Constituency::Manager => "manager",
            Constituency::Analyst => "analyst",
            Constituency::Partner => "partner",
            Constituency::FrontLine => "front-line",
            Constituency::Customer => "customer",
        }
    }

    /// Rank in the organisation (1 = closest to customers).
    pub fn rank(self) -> u32 {
        match self {
            Constituency::FrontLine | Constituency::Customer => 1,
            Constituency::Analyst | Constituency::Partner => 2,
            Constituency::Manager => 3,
            Constituency::Executive => 4,
        }
    }

    /// How much one respondent of this constituency counts: `1 / rank`.
    pub fn weight(self) -> f64 {
        1.0 / f64::from(self.rank())
    }
}

impl fmt::Display for Constituency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Constituency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Constituency::ALL
            .into_iter()
            .find(|c| c.as_str() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown constituency {s:?} (expected one of: executive, manager, analyst, \
                     partner, front-line, customer)"
                )
            })
    }
}

/// The seven areas of the gap tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// How work that touches customers is organised.
    Processes,
    /// The systems behind every contact.
    Technology,
    /// What the company learns about customers and how it uses it.
    Knowledge,
    /// Partners and channels.
    Partnerships,
    /// The relationship with each customer.
    Relationships,
    /// How employees are measured, rewarded and trusted.
    Employees,
    /// Where the company competes.
    Strategy,
}

impl Area {
    /// Every area, in the gap tool's order.
    pub const ALL: [Area; 7] = [
        Area::Processes,
        Area::Technology,
        Area::Knowledge,
        Area::Partnerships,
        Area::Relationships,
        Area::Employees,
        Area::Strategy,
    ];

    /// The kebab-case name used in answer files (`rank:processes`) and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Processes => "processes",
            Area::Technology => "technology",
            Area::Knowledge => "knowledge",
            Area::Partnerships => "partnerships",
            Area::Relationships => "relationships",
            Area::Employees => "employees",
            Area::Strategy => "strategy",
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Area {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let norm = s.trim().to_ascii_lowercase();
        Area::ALL
            .into_iter()
            .find(|a| a.as_str() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown area {s:?} (expected one of: processes, technology, knowledge, \
                     partnerships, relationships, employees, strategy)"
                )
            })
    }
}

/// Which questionnaire a question belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// The four-question broad view, answered 1 to 5.
    Broad,
    /// The gap tool, answered a to d.
    Gap(Area),
}

/// One question, in the product's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Its id in answer files (`B1`, `G07`).
    pub id: &'static str,
    /// Broad view or the gap tool's area.
    pub form: Form,
    /// The question.
    pub text: &'static str,
    /// What the lowest and the highest answer mean.
    pub low: &'static str,
    /// See `low`.
    pub high: &'static str,
}

const fn broad(id: &'static str, text: &'static str) -> Question {
    Question {
        id,
        form: Form::Broad,
        text,
        low: "not at all",
        high: "fully",
    }
}

const fn gap(
    id: &'static str,
    area: Area,
    text: &'static str,
    low: &'static str,
    high: &'static str,
) -> Question {
    Question {
        id,
        form: Form::Gap(area),
        text,
        low,
        high,
    }
}

/// Every question of both questionnaires.
pub const QUESTIONS: [Question; 22] = [
    broad(
        "B1",
        "When a customer contacts us anywhere, do we know who they are and what happened to \
         them before?",
    ),
    broad(
        "B2",
        "Do we know which customers are worth most to us now and later, and treat them \
         accordingly?",
    ),
    broad(
        "B3",
        "Does each conversation with a customer pick up where the last one ended, whatever \
         the channel?",
    ),
    broad(
        "B4",
        "Do we change what we offer or how we serve a customer from what that customer told \
         us?",
    ),
    gap(
        "G01",
        Area::Processes,
        "How does customer information move between the units that serve a customer?",
        "each unit keeps its own",
        "one pooled record used by all",
    ),
    gap(
        "G02",
        Area::Processes,
        "How is compensation for a disruption decided?",
        "by whoever is on duty",
        "by one policy at every touchpoint",
    ),
    gap(
        "G03",
        Area::Processes,
        "How often do analysis, scoring and campaigns hand over to each other?",
        "when someone asks",
        "on a cadence with owners",
    ),
    gap(
        "G04",
        Area::Technology,
        "Can a front-line employee see a customer's full history while serving them?",
        "no",
        "yes, within a second",
    ),
    gap(
        "G05",
        Area::Technology,
        "How are duplicate customer records found and merged?",
        "they are not",
        "automatically, with review and undo",
    ),
    gap(
        "G06",
        Area::Technology,
        "Do systems tell employees at once when something happens to a customer elsewhere?",
        "never",
        "always, live",
    ),
    gap(
        "G07",
        Area::Knowledge,
        "Do we measure each customer's value, including expected future value?",
        "not at all",
        "for every customer, regularly",
    ),
    gap(
        "G08",
        Area::Knowledge,
        "Do we test changes with a control group before rolling them out?",
        "never",
        "as a habit",
    ),
    gap(
        "G09",
        Area::Knowledge,
        "Do front-line observations reach the people who build models?",
        "never",
        "routinely, and they hear back",
    ),
    gap(
        "G10",
        Area::Partnerships,
        "Do partners and channels share what they learn about our customers?",
        "no",
        "yes, into the same record",
    ),
    gap(
        "G11",
        Area::Partnerships,
        "Do partners treat our most valuable customers differently?",
        "no",
        "yes, by agreed rules",
    ),
    gap(
        "G12",
        Area::Relationships,
        "Is someone accountable for each customer relationship?",
        "nobody",
        "one named manager per portfolio",
    ),
    gap(
        "G13",
        Area::Relationships,
        "Can customers tell us how and how often they want to be contacted, and is it kept?",
        "no",
        "yes, at every contact",
    ),
    gap(
        "G14",
        Area::Relationships,
        "Are complaints resolved at the first contact?",
        "rarely",
        "almost always",
    ),
    gap(
        "G15",
        Area::Employees,
        "Are employees measured on customer outcomes rather than on products sold?",
        "products only",
        "customer outcomes first",
    ),
    gap(
        "G16",
        Area::Employees,
        "May front-line employees act for a customer without asking, within known limits?",
        "never",
        "yes, with approvals above the limit",
    ),
    gap(
        "G17",
        Area::Strategy,
        "Do we steer by customer equity (the sum of lifetime values) rather than market share?",
        "market share only",
        "customer equity first",
    ),
    gap(
        "G18",
        Area::Strategy,
        "Do we decide where to grow by the value of customer segments?",
        "by product lines",
        "by segment lifetime value",
    ),
];

/// The question with this id (case-insensitive; `G1` and `G01` are the same).
pub fn question(id: &str) -> Option<&'static Question> {
    let id = id.trim().to_ascii_uppercase();
    let canonical = match id.strip_prefix('G').and_then(|n| n.parse::<u32>().ok()) {
        Some(n) => format!("G{n:02}"),
        None => id,
    };
    QUESTIONS.iter().find(|q| q.id == canonical)
}

/// One respondent's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Respondent {
    /// Name or code of the respondent.
    pub name: String,
    /// Their constituency.
    pub constituency: Constituency,
    /// Answers on the 1-5 scale by question id.
    pub answers: BTreeMap<String, f64>,
    /// The rank the respondent gave each area (1 = top priority); unranked areas count as
    /// ranked last.
    pub ranks: BTreeMap<Area, u32>,
}

impl Respondent {
    /// The weight of an area in this respondent's score: `1 / rank`.
    pub fn area_weight(&self, area: Area) -> f64 {
        let rank = self
            .ranks
            .get(&area)
            .copied()
            .unwrap_or(Area::ALL.len() as u32);
        1.0 / f64::from(rank.max(1))
    }

    /// The respondent's maturity on the 1-5 scale: the broad view's answers count as one
    /// group of weight 1 (their mean), each gap area as a group weighted `1 / rank`.
    pub fn maturity(&self) -> Option<f64> {
        let mut groups: Vec<(f64, f64)> = Vec::new();
        if let Some(m) = mean(self.answers_of(|f| f == Form::Broad)) {
            groups.push((m, 1.0));
        }
        for area in Area::ALL {
            if let Some(m) = mean(self.answers_of(|f| f == Form::Gap(area))) {
                groups.push((m, self.area_weight(area)));
            }
        }
        weighted_mean(groups)
    }

    fn answers_of(&self, keep: impl Fn(Form) -> bool) -> Vec<f64> {
        self.answers
            .iter()
            .filter(|(id, _)| question(id).is_some_and(|q| keep(q.form)))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// Every respondent's answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Answers {
    /// By respondent name.
    pub respondents: BTreeMap<String, Respondent>,
}

/// A problem in an answer file: which file, which line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct AnswerError {
    /// The file's name as given.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// Every problem found in an answer file (the parser reads on after the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct AnswerErrors(pub Vec<AnswerError>);

impl Answers {
    /// Parses answers from CSV text (`respondent,constituency,item,answer`); `file` names the
    /// source in errors. All problems are reported, each with its line.
    pub fn parse(file: &str, text: &str) -> Result<Answers, AnswerErrors> {
        let mut out = Answers::default();
        let mut problems = Vec::new();
        let mut problem = |line: u64, p: String| {
            problems.push(AnswerError {
                file: file.to_string(),
                line,
                problem: p,
            });
        };
        let mut lines = text.lines().enumerate().filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        match lines.next() {
            Some((_, header)) => {
                let cols: Vec<String> = header
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .collect();
                if cols != ["respondent", "constituency", "item", "answer"] {
                    problem(
                        1,
                        format!(
                            "the header must be respondent,constituency,item,answer (found {:?})",
                            header.trim()
                        ),
                    );
                    return Err(AnswerErrors(problems));
                }
            }
            None => {
                problem(1, "the file is empty".into());
                return Err(AnswerErrors(problems));
            }
        }
        for (i, raw) in lines {
            let line = i as u64 + 1;
            let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
            if fields.len() != 4 {
                problem(line, format!("expected 4 fields, found {}", fields.len()));
                continue;
            }
            let (name, constituency, item, answer) = (fields[0], fields[1], fields[2], fields[3]);
            if name.is_empty() {
                problem(line, "the respondent is empty".into());
                continue;
            }
            let constituency = match constituency.parse::<Constituency>() {
                Ok(c) => c,
                Err(e) => {
                    problem(line, e);
                    continue;
                }
            };
            let r = out
                .respondents
                .entry(name.to_string())
                .or_insert_with(|| Respondent {
                    name: name.to_string(),
                    constituency,
                    answers: BTreeMap::new(),
                    ranks: BTreeMap::new(),
                });
            if r.constituency != constituency {
                problem(
                    line,
                    format!(
                        "respondent {name} was {} on an earlier line, here {constituency}",
                        r.constituency
                    ),
                );
                continue;
            }
            if let Some(area) = item.strip_prefix("rank:") {
                let area = match area.parse::<Area>() {
                    Ok(a) => a,
                    Err(e) => {
                        problem(line, e);
                        continue;
                    }
                };
                match answer.parse::<u32>() {
                    Ok(rank) if (1..=Area::ALL.len() as u32).contains(&rank) => {
                        if let Some((other, _)) = r.ranks.iter().find(|(_, v)| **v == rank) {
                            problem(line, format!("{name} gave rank {rank} to {other} already"));
                        } else if r.ranks.insert(area, rank).is_some() {
                            problem(line, format!("{name} ranked {area} twice"));
                        }
                    }
                    _ => problem(
                        line,
                        format!(
                            "the rank of {area} must be a whole number from 1 to 7, not {answer:?}"
                        ),
                    ),
                }
                continue;
            }
            let Some(q) = question(item) else {
                problem(
                    line,
                    format!("unknown question {item:?} (B1-B4, G01-G18, or rank:AREA)"),
                );
                continue;
            };
            let value = match q.form {
                Form::Broad => match answer.parse::<u8>() {
                    Ok(v @ 1..=5) => Some(f64::from(v)),
                    _ => None,
                },
                Form::Gap(_) => match answer.to_ascii_lowercase().as_str() {
                    "a" => Some(1.0),
                    "b" => Some(1.0 + 4.0 / 3.0),
                    "c" => Some(1.0 + 8.0 / 3.0),
                    "d" => Some(5.0),
                    _ => None,
                },
            };
            let Some(value) = value else {
                let expected = match q.form {
                    Form::Broad => "1 (not at all) to 5 (fully)",
                    Form::Gap(_) => "a, b, c or d",
                };
                problem(
                    line,
                    format!("the answer to {} must be {expected}, not {answer:?}", q.id),
                );
                continue;
            };
            if r.answers.insert(q.id.to_string(), value).is_some() {
                problem(line, format!("{name} answered {} twice", q.id));
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(AnswerErrors(problems))
        }
    }

    /// Merges another set of answers (later files add respondents or replace them whole).
    pub fn extend(&mut self, other: Answers) {
        self.respondents.extend(other.respondents);
    }

    /// Weighted maturity overall, per constituency and per area, and the disagreements.
    pub fn summarize(&self) -> AnswerSummary {
        let mut by_constituency = BTreeMap::new();
        for c in Constituency::ALL {
            let members: Vec<&Respondent> = self
                .respondents
                .values()
                .filter(|r| r.constituency == c)
                .collect();
            if members.is_empty() {
                continue;
            }
            let mut areas = BTreeMap::new();
            for area in Area::ALL {
                let values: Vec<f64> = members
                    .iter()
                    .flat_map(|r| r.answers_of(|f| f == Form::Gap(area)))
                    .collect();
                if let Some(m) = mean(values) {
                    areas.insert(area, m);
                }
            }
            let broad = mean(
                members
                    .iter()
                    .flat_map(|r| r.answers_of(|f| f == Form::Broad))
                    .collect(),
            );
            by_constituency.insert(
                c,
                ConstituencySummary {
                    respondents: members.len(),
                    maturity: mean(members.iter().filter_map(|r| r.maturity()).collect()),
                    broad,
                    areas,
                },
            );
        }
        let maturity = weighted_mean(
            self.respondents
                .values()
                .filter_map(|r| r.maturity().map(|m| (m, r.constituency.weight())))
                .collect(),
        );
        let mut disagreements = Vec::new();
        let mut topics: Vec<Topic> = vec![("broad view".to_string(), Box::new(|s| s.broad))];
        for area in Area::ALL {
            topics.push((
                area.to_string(),
                Box::new(move |s| s.areas.get(&area).copied()),
            ));
        }
        for (topic, get) in &topics {
            let scores: Vec<(Constituency, f64)> = by_constituency
                .iter()
                .filter_map(|(c, s)| get(s).map(|v| (*c, v)))
                .collect();
            let Some(&(low_c, low)) = scores.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            let Some(&(high_c, high)) = scores.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            let exec = scores.iter().find(|(c, _)| *c == Constituency::Executive);
            let front = scores.iter().find(|(c, _)| *c == Constituency::FrontLine);
            if let (Some(&(_, e)), Some(&(_, f))) = (exec, front)
                && (e - f).abs() >= EXEC_FRONT_GAP
            {
                disagreements.push(Disagreement {
                    topic: topic.clone(),
                    low: if e < f {
                        (Constituency::Executive, e)
                    } else {
                        (Constituency::FrontLine, f)
                    },
                    high: if e < f {
                        (Constituency::FrontLine, f)
                    } else {
                        (Constituency::Executive, e)
                    },
                });
            } else if high - low >= ANY_GAP {
                disagreements.push(Disagreement {
                    topic: topic.clone(),
                    low: (low_c, low),
                    high: (high_c, high),
                });
            }
        }
        AnswerSummary {
            respondents: self.respondents.len(),
            maturity,
            by_constituency,
            disagreements,
        }
    }
}

/// A topic of the comparison and how to read a constituency's mean on it.
type Topic = (String, Box<dyn Fn(&ConstituencySummary) -> Option<f64>>);

/// Executives and the front line disagreeing by this much (on the 1-5 scale) is a finding.
pub const EXEC_FRONT_GAP: f64 = 1.0;
/// Any two constituencies disagreeing by this much is a finding.
pub const ANY_GAP: f64 = 1.5;

/// What the answers say.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnswerSummary {
    /// How many answered.
    pub respondents: usize,
    /// Maturity 1-5, each respondent weighted by their constituency.
    pub maturity: Option<f64>,
    /// Per constituency.
    pub by_constituency: BTreeMap<Constituency, ConstituencySummary>,
    /// Topics on which constituencies disagree.
    pub disagreements: Vec<Disagreement>,
}

/// One constituency's answers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConstituencySummary {
    /// How many of them answered.
    pub respondents: usize,
    /// Mean of their members' maturities.
    pub maturity: Option<f64>,
    /// Mean broad-view answer.
    pub broad: Option<f64>,
    /// Mean gap-tool answer per area.
    pub areas: BTreeMap<Area, f64>,
}

/// Two constituencies far apart on one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// `broad view` or an area.
    pub topic: String,
    /// The constituency that sees it lowest, and its mean.
    pub low: (Constituency, f64),
    /// The one that sees it highest.
    pub high: (Constituency, f64),
}

fn mean(v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn weighted_mean(v: Vec<(f64, f64)>) -> Option<f64> {
    let w: f64 = v.iter().map(|(_, w)| w).sum();
    (w > 0.0).then(|| v.iter().map(|(x, w)| x * w).sum::<f64>() / w)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "respondent,constituency,item,answer\n";

    #[test]
    fn there_are_four_broad_and_eighteen_gap_questions_in_seven_areas() {
        let broad = QUESTIONS.iter().filter(|q| q.form == Form::Broad).count();
        assert_eq!(broad, 4);
        assert_eq!(QUESTIONS.len() - broad, 18);
        for area in Area::ALL {
            assert!(
                QUESTIONS.iter().any(|q| q.form == Form::Gap(area)),
                "{area}"
            );
        }
        assert_eq!(question("g7").unwrap().id, "G07");
    }

    /// Worked example: a respondent ranks technology 1 and processes 2 and answers
    /// processes d, d (5, 5) and technology a (1). Area weights 1/2 and 1/1:
    /// (5 * 0.5 + 1 * 1) / 1.5 = 2.333...; without the ranks both areas would count 7
    /// (unranked) alike and give (5 + 1) / 2 = 3.
    #[test]
    fn area_answers_are_weighted_inversely_to_the_respondents_priority() {
        let csv = format!(
            "{HEADER}ann,front-line,rank:technology,1\nann,front-line,rank:processes,2\n\
             ann,front-line,G01,d\nann,front-line,G02,d\nann,front-line,G04,a\n\
             bob,front-line,G01,d\nbob,front-line,G02,d\nbob,front-line,G04,a\n"
        );
        let a = Answers::parse("a.csv", &csv).unwrap();
        let ann = a.respondents["ann"].maturity().unwrap();
        assert!((ann - 7.0 / 3.0).abs() < 1e-9, "{ann}");
        let bob = a.respondents["bob"].maturity().unwrap();
        assert!((bob - 3.0).abs() < 1e-9, "{bob}");
    }

    /// Worked example: two front-line respondents answer the broad view 2 and 3, one
    /// executive 5. Front line weighs 1 each, executives 1/4:
    /// (2 + 3 + 5 * 0.25) / 2.25 = 2.777...; the executives (5) and the front line (2.5)
    /// are 2.5 points apart, a finding.
    #[test]
    fn constituencies_weigh_inversely_to_rank_and_are_compared() {
        let csv = format!(
            "{HEADER}f1,front-line,B1,2\nf2,front-line,B1,3\ne1,executive,B1,5\n\
             a1,analyst,B1,3\n"
        );
        let s = Answers::parse("a.csv", &csv).unwrap().summarize();
        let expected = (2.0 + 3.0 + 3.0 * 0.5 + 5.0 * 0.25) / (1.0 + 1.0 + 0.5 + 0.25);
        assert!((s.maturity.unwrap() - expected).abs() < 1e-9);
        assert_eq!(s.by_constituency[&Constituency::FrontLine].broad, Some(2.5));
        assert_eq!(s.disagreements.len(), 1);
        let d = &s.disagreements[0];
        assert_eq!(d.topic, "broad view");
        assert_eq!(d.low, (Constituency::FrontLine, 2.5));
        assert_eq!(d.high, (Constituency::Executive, 5.0));
    }

    #[test]
    fn agreement_is_not_a_finding() {
        let csv = format!("{HEADER}f1,front-line,B1,3\ne1,executive,B1,3\n");
        let s = Answers::parse("a.csv", &csv).unwrap().summarize();
        assert!(s.disagreements.is_empty());
    }

    #[test]
    fn mistakes_are_reported_with_file_line_and_problem() {
        let csv = format!(
            "{HEADER}ann,front-line,B1,7\nann,boss,B2,3\nann,front-line,G19,a\n\
             ann,front-line,G02,e\nann,executive,B3,2\nann,front-line,rank:weather,1\n\
             ann,front-line,rank:technology,9\nann,front-line,B4\nann,front-line,B2,3\n\
             ann,front-line,B2,4\n"
        );
        let errs = Answers::parse("team.csv", &csv).unwrap_err().0;
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "team.csv:2: the answer to B1 must be 1 (not at all) to 5 (fully), not \"7\"",
                "team.csv:3: unknown constituency \"boss\" (expected one of: executive, manager, analyst, partner, front-line, customer)",
                "team.csv:4: unknown question \"G19\" (B1-B4, G01-G18, or rank:AREA)",
                "team.csv:5: the answer to G02 must be a, b, c or d, not \"e\"",
                "team.csv:6: respondent ann was front-line on an earlier line, here executive",
                "team.csv:7: unknown area \"weather\" (expected one of: processes, technology, knowledge, partnerships, relationships, employees, strategy)",
                "team.csv:8: the rank of technology must be a whole number from 1 to 7, not \"9\"",
                "team.csv:9: expected 4 fields, found 3",
                "team.csv:11: ann answered B2 twice",
            ]
        );
        assert!(
            Answers::parse("x.csv", "who,what\n")
                .unwrap_err()
                .to_string()
                .starts_with("x.csv:1: the header must be")
        );
    }
}
