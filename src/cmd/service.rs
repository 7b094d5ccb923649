//! `serve`, `compensate`, `operator`, and [`connect`]: how every command reaches the
//! database, embedded or through a running server.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rapport_core::text::sanitize;
use rapport_core::{CompensationGrant, CustomerId, DisruptionKind};
use rapport_governance::Role;
use rapport_service::{
    Client, CompensationRequest, GrantOutcome, OperatorAdmin, ServeOptions, ServerConfig, Service,
    connect_or_embed_with, running_server,
};

use crate::global::Global;

/// Arguments of `rapport serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP address to listen on. Loopback by default; listening on other interfaces exposes
    /// customer data to the network without encryption.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Also listen on this Unix socket.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Do not listen on TCP (only on --socket).
    #[arg(long, requires = "socket")]
    pub no_tcp: bool,
    /// Maximum simultaneous connections.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Maximum simultaneous TCP connections from one IP address; more are refused at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_per_address: usize,
    /// Close a signed-in connection with no live subscription after this many seconds
    /// without a request (clients reconnect by themselves at their next request).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub idle_timeout: u64,
    /// Run a full scoring run every HOURS hours while serving (consoles showing a customer
    /// see the new scores arrive).
    #[arg(long, value_name = "HOURS")]
    pub score_every: Option<f64>,
    /// Rescore incrementally after every ingest that stored rows.
    #[arg(long)]
    pub score_after_ingest: bool,
}

/// Arguments of `rapport compensate`.
#[derive(Debug, Args)]
pub struct CompensateArgs {
    /// The customer, e.g. C00000042.
    #[arg(long, value_name = "ID")]
    pub customer: CustomerId,
    /// The disruption's reference, e.g. a flight and date: RP123/2026-11-23.
    #[arg(long, value_name = "REF")]
    pub disruption: String,
    /// delay, cancellation, denied-boarding or lost-bag. The disruption's record decides
    /// what happened to the customer; this is kept for scripts written before.
    #[arg(long = "type", value_name = "TYPE", default_value = "delay")]
    pub kind: DisruptionKind,
    /// The delay in minutes (delays only).
    #[arg(long, value_name = "N")]
    pub delay_minutes: Option<u32>,
    /// Where the grant is made, e.g. "gate C12".
    #[arg(long, value_name = "TOUCHPOINT", default_value = "command line")]
    pub touchpoint: String,
    /// The channel the grant is made through (call_center, gate, back_office, ...);
    /// recorded as `service` when not given.
    #[arg(long, value_name = "CHANNEL")]
    pub channel: Option<rapport_core::Channel>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only show what the policy grants and any existing grant; grant nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `rapport operator ...`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator (admins only). The password is read from stdin or a prompt, never
    /// taken from the command line.
    Add {
        /// Login name: a-z, 0-9, '.', '_', '-'.
        name: String,
        /// front-line, customer-manager, analyst, steward, executive or admin.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set an operator's password (your own, or anyone's as admin).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an operator: no more logins; open sessions end.
    Disable {
        /// Login name.
        name: String,
    },
}

/// A runtime for the service calls of one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Reaches the database the way every command should: `--connect ADDR` when given; else
/// embedded; else, when a running server holds the database, through that server.
/// Credentials come from `RAPPORT_USER`/`RAPPORT_PASSWORD` or a prompt, only when connecting.
pub async fn connect(g: &Global) -> anyhow::Result<Client> {
    let db = g.db_path();
    let needs_login = g.connect.is_some() || running_server(&db).is_some();
    if !needs_login {
        g.require_db()?;
    }
    let (user, password) = if needs_login {
        let (u, p) = credentials()?;
        (Some(u), Some(p))
    } else {
        (None, None)
    };
    let client = connect_or_embed_with(
        &db,
        &g.open_options(),
        g.connect.as_deref(),
        user.as_deref(),
        password.as_deref(),
    )
    .await
    .with_context(|| match &g.connect {
        Some(a) => format!("connecting to {a}"),
        None => format!("opening the database at {}", db.display()),
    })?;
    // The audit trail names the command that made an embedded request.
    let client = match client {
        Client::Embedded(e) => Client::Embedded(e.with_origin(&command_name())),
        remote => remote,
    };
    if let (None, rapport_service::Mode::Remote { addr }) = (&g.connect, &client.session().mode) {
        eprintln!(
            "note: the database is held by a running server; connected to it at {}",
            sanitize(addr)
        );
    }
    Ok(client)
}

/// The subcommand being run, as words (`customer show`), read from the arguments by the
/// command grammar: what the audit trail records as an embedded request's origin (never the
/// arguments themselves, which may hold a customer's name).
fn command_name() -> String {
    use clap::CommandFactory;
    let root = crate::cli::Cli::command();
    let mut current = &root;
    let mut words = vec!["command".to_string()];
    for arg in std::env::args().skip(1) {
        if let Some(sub) = current.find_subcommand(&arg) {
            words.push(sub.get_name().to_string());
            current = sub;
        }
    }
    words.join(" ")
}

/// Ends a command's use of the service: an embedded database is flushed and left without
/// tearing down its page cache (the process exits next; a million customers' pages take a
/// second to free); a connection just closes.
pub fn finish(client: Client) -> anyhow::Result<()> {
    match client {
        Client::Embedded(e) => {
            e.engine().flush()?;
            std::mem::forget(e);
        }
        Client::Remote(r) => drop(r),
    }
    Ok(())
}

/// Operator name and password from the environment, or asked on the terminal.
fn credentials() -> anyhow::Result<(String, String)> {
    let user = match std::env::var("RAPPORT_USER") {
        Ok(u) if !u.is_empty() => u,
        _ => prompt("operator: ", true)?,
    };
    let password = match std::env::var("RAPPORT_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => prompt("password: ", false)?,
    };
    Ok((user, password))
}

/// Asks on the terminal (stderr for the question); without echo for secrets.
fn prompt(question: &str, echo: bool) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to ask for {}: set RAPPORT_USER and RAPPORT_PASSWORD",
            question.trim_end_matches(": ")
        );
    }
    eprint!("{question}");
    std::io::stderr().flush().ok();
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = !echo && stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    read.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A new password from the first line of stdin, or asked twice on the terminal.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(p);
    }
    let p = prompt("new password: ", false)?;
    let again = prompt("again: ", false)?;
    if p != again {
        bail!("the passwords differ");
    }
    Ok(p)
}

/// Whether a listen address stays on this machine.
pub(crate) fn is_loopback(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().is_loopback(),
        Err(_) => addr.starts_with("localhost:"),
    }
}

/// `rapport serve`.
pub fn serve(g: &Global, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = g.db_path();
    g.require_db()?;
    if !a.no_tcp && !is_loopback(&a.listen) {
        eprintln!(
            "warning: listening on {} exposes customer data to the network without \
             encryption; prefer loopback or --socket, and reach the server over SSH",
            sanitize(&a.listen)
        );
    }
    let opts = ServeOptions {
        db: db.clone(),
        listen: (!a.no_tcp).then(|| a.listen.clone()),
        socket: a.socket.clone(),
        config: ServerConfig {
            max_connections: a.max_connections,
            max_per_address: a.max_per_address,
            idle_timeout: std::time::Duration::from_secs(a.idle_timeout.max(1)),
            score_every: a
                .score_every
                .map(|h| {
                    if !(h.is_finite() && h > 0.0 && h <= 24.0 * 366.0) {
                        bail!("--score-every {h}: give hours between 0 and a year");
                    }
                    Ok(std::time::Duration::from_secs_f64((h * 3600.0).max(60.0)))
                })
                .transpose()?,
            score_after_ingest: a.score_after_ingest,
            ..ServerConfig::default()
        },
    };
    let rt = runtime()?;
    // stderr may be a pipe whose reader is gone (`serve 2>&1 | tee log` after Ctrl-C): what
    // the server says is best effort and never stops it from stopping.
    let say = |text: String| {
        let _ = writeln!(std::io::stderr(), "{text}");
    };
    let served = rt.block_on(rapport_service::serve(opts, |addr| {
        let mut at = Vec::new();
        at.extend(addr.listen.iter().cloned());
        at.extend(addr.socket.iter().cloned());
        say(format!(
            "rapport serve: database {}; listening on {}; stop with Ctrl-C or SIGTERM",
            db.display(),
            at.join(" and ")
        ));
    }));
    // Do not wait for blocking work still queued (a stalled client's request): the store is
    // flushed, and the process is about to end.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    served.with_context(|| format!("serving the database at {}", db.display()))?;
    say("rapport serve: stopped; database flushed".to_string());
    Ok(ExitCode::SUCCESS)
}

fn describe(g: &CompensationGrant) -> String {
    let delay = g
        .delay_minutes
        .map(|m| format!(", {} h {:02} min", m / 60, m % 60))
        .unwrap_or_default();
    sanitize(&format!(
        "{} {} to {} for {} ({}{}), rule \"{}\", by {} at {} on {}",
        g.instrument,
        g.amount,
        g.customer,
        g.disruption,
        g.kind,
        delay,
        g.policy_rule,
        g.granted_by,
        g.touchpoint,
        g.at
    ))
    .into_owned()
}

/// `rapport compensate`: exit 0 when granted, 3 when refused because a grant exists.
pub fn compensate(g: &Global, a: CompensateArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        let client = connect(g).await?;
        let req = CompensationRequest {
            customer: a.customer,
            disruption: a.disruption.clone(),
            kind: a.kind,
            delay_minutes: a.delay_minutes,
            touchpoint: a.touchpoint.clone(),
            channel: a.channel.clone(),
        };
        if a.dry_run {
            let e = client.entitlement(req).await?;
            if a.json {
                println!("{}", crate::cmd::json_pretty(&e)?);
            } else {
                println!(
                    "{}",
                    sanitize(&format!(
                        "policy: {} {} (rule \"{}\")",
                        e.instrument, e.amount, e.rule
                    ))
                );
                if let Some(x) = &e.existing {
                    println!("already granted: {}", describe(x));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let outcome = client.grant_compensation(req).await?;
        let (granted, grant) = match &outcome {
            GrantOutcome::Granted(x) => (true, x),
            GrantOutcome::Refused(x) => (false, x),
        };
        if a.json {
            let v = serde_json::json!({
                "outcome": if granted { "granted" } else { "refused" },
                "grant": grant,
            });
            println!("{}", crate::cmd::json_pretty(&v)?);
        } else if granted {
            println!("granted: {}", describe(grant));
        } else {
            println!("refused: already granted: {}", describe(grant));
        }
        Ok(if granted {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        })
    })
}

/// `rapport operator ...`.
pub fn operator(g: &Global, c: OperatorCommand) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        // Read a new password before connecting, so stdin is not also asked for a login.
        let password = match &c {
            OperatorCommand::Add { password_stdin, .. }
            | OperatorCommand::Passwd { password_stdin, .. } => {
                Some(new_password(*password_stdin)?)
            }
            _ => None,
        };
        let client = connect(g).await?;
        match c {
            OperatorCommand::Add { name, role, .. } => {
                client
                    .add_operator(&name, role, password.as_deref().unwrap_or_default())
                    .await?;
                println!("added operator {} ({role})", sanitize(&name));
            }
            OperatorCommand::List { json } => {
                let ops = client.operators().await?;
                if json {
                    println!("{}", crate::cmd::json_pretty(&ops)?);
                } else {
                    println!("{:<24} {:<17} {:<9} created", "name", "role", "status");
                    for o in ops {
                        println!(
                            "{:<24} {:<17} {:<9} {}",
                            sanitize(&o.name),
                            o.role,
                            if o.disabled { "disabled" } else { "active" },
                            o.created
                        );
                    }
                }
            }
            OperatorCommand::Passwd { name, .. } => {
                client
                    .set_password(&name, password.as_deref().unwrap_or_default())
                    .await?;
                println!("password changed for {}", sanitize(&name));
            }
            OperatorCommand::Disable { name } => {
                client.disable_operator(&name).await?;
                println!("disabled operator {}", sanitize(&name));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
