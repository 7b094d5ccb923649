//! The broad-view questionnaire of the stage assessment, answered by the signed-in operator
//! for themselves (their constituency follows their role; they may change it).

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use rapport_governance::Role;
use rapport_governance::questionnaire::{
    Answers, Constituency, Form as QForm, QUESTIONS, Respondent,
};

use crate::popups::form::{Field, Form, draw_box};
use crate::view::ViewCtx;

/// The answer scale of the broad view.
const SCALE: [&str; 5] = [
    "1 not at all",
    "2 a little",
    "3 partly",
    "4 mostly",
    "5 fully",
];

/// The form: constituency and the four broad-view questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionnairePopup {
    /// The fields (`Constituency`, then `B1`..`B4`).
    pub form: Form,
}

/// The constituency a role answers as by default.
pub fn constituency_of(role: Role) -> Constituency {
    match role {
        Role::FrontLine => Constituency::FrontLine,
        Role::CustomerManager => Constituency::Manager,
        Role::Analyst | Role::Steward => Constituency::Analyst,
        Role::Executive | Role::ChiefCustomerOfficer => Constituency::Executive,
        Role::CapabilityManager => Constituency::Manager,
        Role::Admin => Constituency::Manager,
    }
}

impl QuestionnairePopup {
    /// An unanswered form (each question on "3 partly").
    pub fn new(role: Role) -> QuestionnairePopup {
        let own = constituency_of(role);
        let mut fields = vec![Field::choice(
            "Constituency",
            Constituency::ALL
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            Constituency::ALL
                .iter()
                .position(|c| *c == own)
                .unwrap_or(0),
        )];
        for q in QUESTIONS.iter().filter(|q| q.form == QForm::Broad) {
            fields.push(Field::choice(
                q.id,
                SCALE.iter().map(|s| s.to_string()).collect(),
                2,
            ));
        }
        QuestionnairePopup {
            form: Form::new(fields),
        }
    }

    /// The operator's answers.
    pub fn answers(&self, operator: &str) -> Result<Answers, String> {
        let constituency: Constituency = self.form.get("Constituency").parse()?;
        let mut answers = BTreeMap::new();
        for q in QUESTIONS.iter().filter(|q| q.form == QForm::Broad) {
            let v: f64 = self
                .form
                .get(q.id)
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("answer {}", q.id))?;
            answers.insert(q.id.to_string(), v);
        }
        let mut out = Answers::default();
        out.respondents.insert(
            operator.to_string(),
            Respondent {
                name: operator.to_string(),
                constituency,
                answers,
                ranks: BTreeMap::new(),
            },
        );
        Ok(out)
    }

    /// Draws the questions and the form.
    pub fn render(&self, f: &mut Frame<'_>, area: Rect, cx: &ViewCtx<'_>) {
        let mut lines = Vec::new();
        for q in QUESTIONS.iter().filter(|q| q.form == QForm::Broad) {
            lines.push(Line::styled(format!("{} {}", q.id, q.text), cx.theme.dim()));
        }
        lines.push(Line::from(""));
        lines.extend(self.form.lines(cx.theme, cx.theme.ascii));
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "Tab next question, left/right answer, Enter save, Esc cancel",
            cx.theme.dim(),
        ));
        draw_box(
            f,
            area,
            cx.theme,
            "How customer-focused are we? (broad view)",
            lines,
            cx.theme.title(),
        );
    }
}
