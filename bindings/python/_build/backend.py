"""A PEP 517 build backend for the phasewatt package with nothing to download: writes the
wheel itself, bundling the built library and CLI when the source tree has them."""
import base64
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

NAME, VERSION = "phasewatt", "0.1.0"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIST = "%s-%s" % (NAME, VERSION)
METADATA = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: Phase tags, sessions and "
            "results for the phasewatt power and energy profiler\nRequires-Python: >=3.8\n"
            "Provides-Extra: pandas\nRequires-Dist: pandas; extra == \"pandas\"\n"
            "Provides-Extra: torch\nRequires-Dist: torch; extra == \"torch\"\n" % (NAME, VERSION))


def _bundle():
    """(path in the wheel, file) of the library and CLI to bundle, or []."""
    if os.environ.get("PHASEWATT_BUNDLE") == "0":
        return []
    build = os.environ.get("PHASEWATT_BUNDLE_DIR") or os.path.join(HERE, "..", "..", "build")
    files = [("libphasewatt.so", os.path.join(build, "lib", "libphasewatt.so")),
             ("phasewatt", os.path.join(build, "bin", "phasewatt"))]
    found = [(NAME + "/_bundled/" + name, path) for name, path in files if os.path.isfile(path)]
    return found if len(found) == len(files) else []


def compile_speedups(dest):
    """Builds phasewatt/_speedups.c for this interpreter into dest; its path, or None (and
    why on stderr) where there is no compiler or no Python headers: the binding then runs
    its pure-Python path."""
    if os.environ.get("PHASEWATT_PURE_PYTHON") == "1":
        return None
    src = os.path.join(HERE, NAME, "_speedups.c")
    out = os.path.join(dest, "_speedups" + sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    cmd = cc + ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                "-I" + include, src, "-o", out]
    if not os.path.exists(os.path.join(include, "Python.h")):
        sys.stderr.write("phasewatt: no Python.h in %s (python3-dev): the tags use the "
                         "pure-Python path\n" % include)
        return None
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        done = None
        sys.stderr.write("phasewatt: cannot run %s (%s): the tags use the pure-Python path\n"
                         % (cc[0], e))
    if done is not None and done.returncode != 0:
        sys.stderr.write("phasewatt: building _speedups failed; the tags use the pure-Python "
                         "path:\n%s\n" % done.stdout)
    return out if done is not None and done.returncode == 0 else None


def _sources():
    pkg = os.path.join(HERE, NAME)
    return [(NAME + "/" + f, os.path.join(pkg, f)) for f in sorted(os.listdir(pkg))
            if (f.endswith(".py") and f != "_installed.py") or f == "py.typed"]


def _installed(scratch):
    """phasewatt/_installed.py naming where `make install` put the library and the CLI
    (PHASEWATT_INSTALL_LIBRARY, PHASEWATT_INSTALL_CLI), or []."""
    lib, cli = (os.environ.get("PHASEWATT_INSTALL_" + k) for k in ("LIBRARY", "CLI"))
    if not lib and not cli:
        return []
    path = os.path.join(scratch, "_installed.py")
    with open(path, "w") as f:
        f.write('"""Where `make install` put the library and the CLI."""\nLIBRARY = %r\n'
                'CLI = %r\n' % (lib or "", cli or ""))
    return [(NAME + "/_installed.py", path)]


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _add(zf, record, arcname, data, mode=0o644):
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
    record.append("%s,%s,%d" % (arcname, _digest(data), len(data)))


def _tag(bundled):
    if not any(a.endswith((".so", "/phasewatt")) for a, _ in bundled):
        return "py3-none-any"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if any(a.endswith(".so") and "_speedups" in a for a, _ in bundled):
        py = "cp%d%d" % sys.version_info[:2]
        return "%s-%s-%s" % (py, py, platform)
    return "py3-none-" + platform


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    scratch = tempfile.mkdtemp(prefix="phasewatt-build-")
    bundled = _bundle() + _installed(scratch)
    fast = compile_speedups(scratch)
    if fast:
        bundled.append((NAME + "/" + os.path.basename(fast), fast))
    tag = _tag(bundled)
    wheel = "%s-%s.whl" % (DIST, tag)
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for arcname, path in _sources() + bundled:
            with open(path, "rb") as f:
                data = f.read()
            _add(zf, record, arcname, data, 0o755 if os.access(path, os.X_OK) and
                 arcname.endswith("/phasewatt") else 0o644)
        info = DIST + ".dist-info/"
        _add(zf, record, info + "METADATA", METADATA.encode())
        _add(zf, record, info + "WHEEL", ("Wheel-Version: 1.0\nGenerator: phasewatt-backend\n"
                                          "Root-Is-Purelib: %s\nTag: %s\n"
                                          % ("true" if tag.endswith("-any") else "false",
                                             tag)).encode())
        record.append(info + "RECORD,,")
        zf.writestr(info + "RECORD", "\n".join(record) + "\n")
    return wheel


def build_sdist(sdist_directory, config_settings=None):
    import tarfile
    name = DIST + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        for rel in ["pyproject.toml", "README.md", "_build/backend.py", NAME + "/_speedups.c"] + \
                   [a for a, _ in _sources()]:
            tf.add(os.path.join(HERE, rel), arcname=DIST + "/" + rel)
        info = tarfile.TarInfo(DIST + "/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        import io
        tf.addfile(info, io.BytesIO(data))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


if __name__ == "__main__" and sys.argv[1:] == ["build_ext"]:
    # in place, for a source tree used through PYTHONPATH (bench/hotpath.py)
    built = compile_speedups(os.path.join(HERE, NAME))
    print(built or "not built: see above")
    sys.exit(0 if built else 1)
