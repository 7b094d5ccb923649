//! `rapport assess`: the coordination-stage assessment, its questionnaires and its history.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_governance::assessment::{Report, describe};
use rapport_governance::questionnaire::{Answers, Form, QUESTIONS};
use rapport_service::{AssessmentEntry, Assessments};

use crate::cmd::service::{connect, runtime};
use crate::global::Global;

/// Arguments of `rapport assess`.
#[derive(Debug, Args)]
pub struct AssessArgs {
    /// What to do (default: assess now).
    #[command(subcommand)]
    pub command: Option<AssessCommand>,
    /// Days the evidence looks back over.
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub period: u32,
    /// Questionnaire answers to store first (CSV: respondent,constituency,item,answer).
    #[arg(long, value_name = "FILE")]
    pub answers: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rapport assess ...`.
#[derive(Debug, Subcommand)]
pub enum AssessCommand {
    /// Every assessment made so far, oldest first: the stage over time.
    History {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The questions of both questionnaires, with their ids for answer files.
    Questions,
}

/// Runs `rapport assess`.
pub fn assess(g: &Global, a: AssessArgs) -> anyhow::Result<ExitCode> {
    if let Some(AssessCommand::Questions) = a.command {
        print_questions();
        return Ok(ExitCode::SUCCESS);
    }
    // Read and check every answer file before reaching the database.
    let mut answers = Answers::default();
    for path in &a.answers {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let parsed = Answers::parse(&path.display().to_string(), &text)
            .map_err(|e| anyhow::anyhow!("{}", sanitize(&e.to_string())))?;
        answers.extend(parsed);
    }
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        match a.command {
            Some(AssessCommand::History { json }) => {
                let all = client.assessment_history().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&all)?);
                } else {
                    print_history(&all);
                }
            }
            _ => {
                if !answers.respondents.is_empty() {
                    let n = client.submit_answers(answers).await?;
                    eprintln!("stored the answers of {n} respondents");
                }
                let entry = client.assess(a.period).await?;
                if a.json {
                    println!("{}", serde_json::to_string_pretty(&entry)?);
                } else {
                    print_report(&entry);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_questions() {
    println!("Broad view: answer 1 (not at all) to 5 (fully).");
    for q in QUESTIONS.iter().filter(|q| q.form == Form::Broad) {
        println!("  {:<4} {}", q.id, q.text);
    }
    println!();
    println!("Gap tool: answer a (least customer-centric) to d (most).");
    let mut area = None;
    for q in &QUESTIONS {
        if let Form::Gap(a) = q.form {
            if area != Some(a) {
                println!("  {a}");
                area = Some(a);
            }
            println!("    {:<4} {} (a: {}; d: {})", q.id, q.text, q.low, q.high);
        }
    }
    println!();
    println!(
        "Answer file: CSV with the header respondent,constituency,item,answer; item is a \
         question id or rank:AREA (your priority for the area, 1 = top)."
    );
}

fn print_history(all: &[AssessmentEntry]) {
    if all.is_empty() {
        println!("no assessment yet (run `rapport assess`)");
        return;
    }
    println!(
        "{:<20} {:<6} {:<16} {:>7}  by",
        "when", "stage", "name", "period"
    );
    for e in all {
        println!(
            "{:<20} {:<6} {:<16} {:>5} d  {}",
            e.at.to_jiff().strftime("%Y-%m-%d %H:%M"),
            e.report.stage,
            e.report.stage_name,
            e.period_days,
            sanitize(&e.by)
        );
    }
}

fn print_report(e: &AssessmentEntry) {
    let r: &Report = &e.report;
    println!(
        "Stage reached: {} ({}), evidence of the last {} days",
        r.stage, r.stage_name, e.period_days
    );
    for s in &r.stages {
        println!();
        println!(
            "{} {}: {} of {} measures met, {}",
            s.stage.number(),
            s.stage,
            s.met,
            s.of,
            if s.holds { "holds" } else { "does not hold" }
        );
        for m in &s.measures {
            println!(
                "  [{}] {}{}",
                if m.met { "x" } else { " " },
                describe(m),
                if m.foundation { " (foundation)" } else { "" }
            );
        }
    }
    if let Some(a) = &r.answers {
        println!();
        println!(
            "Answers: {} respondents, maturity {} of 5{}",
            a.respondents,
            a.maturity.map_or("-".into(), |m| format!("{m:.1}")),
            r.answers_stage
                .map_or(String::new(), |s| format!(" (stage {s})"))
        );
        for (c, s) in &a.by_constituency {
            println!(
                "  {:<11} {:>3} respondents, maturity {}",
                c.as_str(),
                s.respondents,
                s.maturity.map_or("-".into(), |m| format!("{m:.1}"))
            );
        }
    }
    if !r.warnings.is_empty() {
        println!();
        println!("Warnings:");
        for w in &r.warnings {
            println!("  ! {w}");
        }
    }
    if !r.next_steps.is_empty() {
        println!();
        println!("Next steps:");
        for s in &r.next_steps {
            println!("  - {s}");
        }
    }
}
