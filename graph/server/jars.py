"""The Java side of veil's local Neo4j: the Neo4j version, its jars, a Java to run them, and
the launcher (launcher/Launcher.java) with the JVM flags it needs.

Why embedded: Neo4j 5.26 LTS is the last line on Java 17 and ships no pip-installable
server; Maven Central serves its jars, so the first use fetches them once into a cache
(`ensure_jars`) and every start runs the launcher as a single source file (no build step).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from config.errors import EnvironmentProblem
from config.progress import Progress, Update, silent
from config.settings import environment

NEO4J_VERSION = "5.26.30"  # keep in step with launcher/pom.xml
LAUNCHER = Path(__file__).resolve().parent / "launcher"

# The flags Neo4j's own neo4j.conf passes to the JVM (server.jvm.additional) that matter here;
# without the add-opens Java 17 fails at start on DirectByteBuffer access.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)


def jar_cache_dir() -> Path:
    """Where the Neo4j jars live: $VEIL_JAR_CACHE (else ~/.cache/veil)/neo4j-<version>/lib."""
    env = environment()
    root = env.jar_cache or (env.xdg_cache_home or Path.home() / ".cache") / "veil"
    return root.expanduser() / f"neo4j-{NEO4J_VERSION}" / "lib"


def ensure_jars(progress: Progress = silent) -> Path:
    """Return the jar directory, fetching the jars with Maven first if not cached yet.

    A marker is written only after a complete copy, so an interrupted fetch is redone.
    """
    lib = jar_cache_dir()
    marker = lib.with_name("lib.complete")
    if marker.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.with_name(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching right now
        if marker.exists():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise EnvironmentProblem(
                f"the Neo4j {NEO4J_VERSION} jars are not cached in {lib} and `mvn` is not on "
                "PATH: install Maven (e.g. apt-get install maven) so veil can fetch them from "
                "Maven Central, or point VEIL_JAR_CACHE at a cache that has them"
            )
        progress(
            Update(
                stage=f"Fetching Neo4j {NEO4J_VERSION} jars from Maven Central into {lib} "
                "(first use only, about 125 MB)"
            )
        )
        for leftover in lib.parent.glob("lib.partial-*"):  # from an interrupted fetch
            shutil.rmtree(leftover, ignore_errors=True)
        partial = lib.with_name(f"lib.partial-{os.getpid()}")
        with tempfile.TemporaryDirectory(prefix="veil-neo4j-pom-") as tmp:
            # Run on a copy so Maven never writes into the installed package.
            pom = Path(tmp) / "pom.xml"
            shutil.copyfile(LAUNCHER / "pom.xml", pom)
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={partial}",
            ]
            result = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            tail = tail_text(result.stdout + result.stderr, 25)
            raise EnvironmentProblem(
                f"Maven could not fetch the Neo4j {NEO4J_VERSION} jars (exit "
                f"{result.returncode}); check access to Maven Central and retry:\n{tail}"
            )
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
        marker.write_text(f"neo4j {NEO4J_VERSION}\n", encoding="ascii")
    return lib


def check_java() -> str:
    """Path of a `java` on PATH that is version 17 or later (Neo4j 5.26 needs 17)."""
    java = shutil.which("java")
    if java is None:
        raise EnvironmentProblem(
            "no `java` on PATH: install Java 17 or later (e.g. apt-get install openjdk-17-jre-"
            "headless) to run the local Neo4j, or set NEO4J_URI to use an existing server"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    version = match[1] if match else "unknown"
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] or [0]
    major = parts[1] if parts[0] == 1 and len(parts) > 1 else parts[0]  # "1.8.0" is Java 8
    if major < 17:
        raise EnvironmentProblem(
            f"{java} is Java {version}, but Neo4j {NEO4J_VERSION} needs Java 17 or later: "
            "install Java 17+ and put it first on PATH"
        )
    return java


def tail_text(text: str, n: int) -> str:
    """The last `n` non-blank lines of a tool's output, indented, for an error message."""
    lines = [line for line in text.replace("\x1b[0m", "").splitlines() if line.strip()]
    return "\n".join("  | " + line for line in lines[-n:]) or "  | (empty)"
