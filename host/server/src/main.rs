//! The `prism` binary: parses the command line and hands each subcommand to
//! the library. Errors end here, printed once, with a non-zero exit.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use prism_server::cli::args::{
    BackupArgs, Cli, Command, ConfigCommand, ConvertArgs, HtpasswdCommand, KeyCommand, LogFormat,
    PluginCommand, RestoreArgs, RunArgs, ServerArgs, TokenCommand,
};
use prism_server::settings::{EnvSnapshot, Settings};
use prism_server::{audit, builtin, cli, logging, serve, settings, startup};

fn main() -> ExitCode {
    let env = EnvSnapshot::capture();
    let result = match Cli::parse().command {
        Command::Run(args) => return run(args, &env),
        Command::Htpasswd(command) => htpasswd(command),
        Command::Token(TokenCommand::New { bytes }) => {
            cli::token::new(bytes).map(|(token, digest)| {
                println!("{token}");
                eprintln!("sha256: {digest}");
            })
        }
        Command::Plugin(PluginCommand::List) => {
            logging::init(LogFormat::Human);
            cli::plugin::list(builtin::BUILTIN_PLUGINS)
        }
        Command::Plugin(PluginCommand::Inspect { file }) => cli::plugin::inspect(&file),
        Command::Plugin(PluginCommand::New {
            lang,
            kind,
            name,
            dir,
            sdk,
        }) => cli::plugin_new::new(lang, kind, &name, dir.as_deref(), sdk.as_deref()),
        Command::Plugin(PluginCommand::Bench {
            file,
            settings,
            headers,
            user,
            action,
            calls,
        }) => cli::plugin_bench::bench(
            &file,
            &cli::plugin_bench::BenchInput {
                settings,
                headers,
                user,
                action,
                calls,
            },
        ),
        Command::Plugin(PluginCommand::Build { dir, output }) => {
            cli::plugin_build::build(dir.as_deref(), output.as_deref())
        }
        Command::Healthcheck(server) => healthcheck(&server, &env),
        Command::Config(ConfigCommand::Check(server)) => {
            logging::init(LogFormat::Human);
            startup::prepare(&server, &env).map(|prepared| cli::config::print(&prepared))
        }
        Command::Backup(BackupArgs {
            path,
            out,
            encryption_key_file,
        }) => {
            logging::init(LogFormat::Human);
            cli::backup::backup(&path, &out, encryption_key_file.as_deref())
        }
        Command::Restore(RestoreArgs {
            from,
            path,
            encryption_key_file,
        }) => {
            logging::init(LogFormat::Human);
            cli::backup::restore(&from, &path, encryption_key_file.as_deref())
        }
        Command::Key(KeyCommand::New { file }) => cli::key::new(&file),
        Command::Key(KeyCommand::Rotate {
            path,
            key_file,
            new_key_file,
            reencrypt,
        }) => {
            logging::init(LogFormat::Human);
            cli::key::rotate(&path, &key_file, &new_key_file, reencrypt)
        }
        Command::Encrypt(ConvertArgs { path, key_file }) => {
            logging::init(LogFormat::Human);
            cli::key::encrypt(&path, &key_file)
        }
        Command::Decrypt(ConvertArgs { path, key_file }) => {
            logging::init(LogFormat::Human);
            cli::key::decrypt(&path, &key_file)
        }
        Command::Import(args) => {
            logging::init_warnings();
            cli::transfer::import(&args)
        }
        Command::Export(args) => {
            logging::init_warnings();
            cli::transfer::export(&args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prism: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `prism run`: errors go to the log, in the log's format.
fn run(args: RunArgs, env: &EnvSnapshot) -> ExitCode {
    let audit_file = match &args.audit_log {
        None => None,
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("prism: cannot open the audit log {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    logging::init_with_audit(args.log_format, audit_file);
    audit::set_mode(args.audit_mode());
    let served = startup::prepare(&args.server, env).and_then(|prepared| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve::serve(prepared))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn htpasswd(command: HtpasswdCommand) -> anyhow::Result<()> {
    match command {
        HtpasswdCommand::Add {
            file,
            user,
            cost,
            owner,
        } => cli::htpasswd::add(&file, &user, cost, &cli::read_password(true)?, owner),
        HtpasswdCommand::Verify { file, user } => {
            cli::htpasswd::verify(&file, &user, &cli::read_password(false)?)
        }
        HtpasswdCommand::Delete { file, user } => cli::htpasswd::delete(&file, &user),
    }
}

/// `prism healthcheck`: only the listen address and TLS files matter.
fn healthcheck(server: &ServerArgs, env: &EnvSnapshot) -> anyhow::Result<()> {
    let settings = Settings::resolve(&server.flags(), env, &server.file_config()?)?;
    let addr = settings::listen_address(&settings.host, settings.port)?;
    cli::healthcheck::check(addr, server.tls.files().as_ref())
}
