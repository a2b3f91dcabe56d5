//! `build_rootfs`: the seed's hand-made rootfs: `dir/{bin,lib,lib64}`, the programs, and every
//! library `ldd` lists for them, each copied to the same absolute path under `dir`.

use std::collections::BTreeSet;
use std::path::Path;

use super::command::shell_quote;
use super::context::OpContext;
use super::outcome::{io_error, sys_error, Calls, Extra, OpResult};
use super::run::{capture, resolve};
use rootlab_shared::result::{CommandOutput, CopiedFile, StepDetails};

pub fn command(dir: &str, programs: &[String], skip_libraries: bool) -> String {
    let d = shell_quote(dir);
    let progs: Vec<String> = programs.iter().map(|p| shell_quote(p)).collect();
    let mut cmd = format!(
        "mkdir -p {d}/bin {d}/lib {d}/lib64 && cp {} {d}/bin/",
        progs.join(" ")
    );
    if !skip_libraries {
        cmd.push_str(&format!(
            " && for p in {}; do ldd $p | grep -o '/[^ ]*' | xargs -I{{}} cp --parents {{}} {d}; done",
            progs.join(" ")
        ));
    }
    cmd
}

pub fn build(
    dir: &str,
    programs: &[String],
    skip_libraries: bool,
    ctx: &OpContext,
    calls: &mut Calls,
) -> OpResult {
    for sub in ["bin", "lib", "lib64"] {
        calls.mkdir("build_rootfs", &format!("{dir}/{sub}"), 0o755)?;
    }
    let mut copied = Vec::new();
    let mut seen = BTreeSet::new();
    let mut ldd_runs = Vec::new();
    for program in programs {
        let source = resolve(program).ok_or_else(|| missing(program))?;
        let src = source.to_string_lossy().into_owned();
        let name = source.file_name().map(|n| n.to_string_lossy().into_owned());
        let dest = format!("/bin/{}", name.unwrap_or_default());
        copy_into(dir, &src, &dest, calls)?;
        seen.insert(dest.clone());
        copied.push(CopiedFile {
            source: src.clone(),
            dest,
            reason: "program".into(),
        });
        if !skip_libraries {
            let out = ldd(&src, ctx)?;
            for lib in libraries(&out.stdout) {
                if seen.insert(lib.clone()) {
                    copy_into(dir, &lib, &lib, calls)?;
                    copied.push(CopiedFile {
                        source: lib.clone(),
                        dest: lib,
                        reason: src.clone(),
                    });
                }
            }
            ldd_runs.push(out);
        }
    }
    Ok(Extra {
        details: Some(StepDetails::BuildRootfs {
            copied,
            ldd: ldd_runs,
        }),
        ..Extra::default()
    })
}

fn missing(program: &str) -> rootlab_shared::result::StepError {
    sys_error(
        "build_rootfs",
        &format!("stat(\"{program}\")"),
        super::sys::Errno::ENOENT,
    )
}

/// Run this root's own `ldd` on the program.
fn ldd(program: &str, ctx: &OpContext) -> Result<CommandOutput, rootlab_shared::result::StepError> {
    let ldd = resolve("ldd").ok_or_else(|| missing("ldd"))?;
    let argv = vec!["ldd".to_string(), program.to_string()];
    capture(&ldd, &argv, ctx).map_err(|e| sys_error("build_rootfs", "execve(\"ldd\")", e))
}

/// Absolute paths in ldd's output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the loader.
pub fn libraries(ldd_stdout: &str) -> Vec<String> {
    ldd_stdout
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rhs)) => rhs.trim(),
                None => line,
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

fn copy_into(
    dir: &str,
    source: &str,
    dest: &str,
    calls: &mut Calls,
) -> Result<(), rootlab_shared::result::StepError> {
    let target = format!("{dir}{dest}");
    calls.0.push(format!("copy \"{source}\" -> \"{target}\""));
    if let Some(parent) = Path::new(&target).parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            io_error(
                "build_rootfs",
                &format!("mkdir -p {}", parent.display()),
                &e,
            )
        })?;
    }
    std::fs::copy(source, &target)
        .map(drop)
        .map_err(|e| io_error("build_rootfs", &format!("cp {source} {target}"), &e))
}

#[cfg(test)]
mod tests {
    use super::libraries;

    #[test]
    fn ldd_output_yields_absolute_library_paths() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibtinfo.so.6 => /lib/x86_64-linux-gnu/libtinfo.so.6 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n";
        assert_eq!(
            libraries(out),
            vec![
                "/lib/x86_64-linux-gnu/libtinfo.so.6".to_string(),
                "/lib64/ld-linux-x86-64.so.2".to_string()
            ]
        );
    }
}
