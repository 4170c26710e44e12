"""Real-browser check: each notebook's widgets render and respond in JupyterLab under headless Chromium.

A learner uses the course in JupyterLab, not through nbval, so for every notebook that has a widget this
module does what a learner does: open it in JupyterLab, run all cells, wait for the kernel to go idle,
check that no error is displayed, move the first slider with the keyboard, and check that what the
widget shows changed (the slider's readout, the ``seqlib-summary`` line, the figure's PNG bytes).

How it runs
    * JupyterLab from this project's ``.venv`` on a free 127.0.0.1 port with a random token, serving a
      temporary *copy* of ``notebooks/`` (running a notebook in the browser may save it, and nbval
      compares the stored outputs), with its own config/data/settings/workspace/IPython dirs (the
      user's settings are untouched) and settings that keep it offline and deterministic: no news or
      update checks, no autosave, every cell attached to the DOM (windowing off).
    * Debian's Chromium (``/usr/bin/chromium``) through Playwright for Python with ``executable_path``
      (Playwright's own browser download cannot work offline), a fresh user-data dir and offline flags.
    * Screenshots go to ``tests/browser/screenshots/`` (git-ignored): ``<notebook>-before.png`` and
      ``-after.png`` (the widget), ``-page.png`` (JupyterLab after the slider moved), ``-failure.png``.

Without Chromium the tests skip with one line saying how to enable them; with ``CI`` set (``.ci/run``
sets it) a missing Chromium is a failure.  All tests live in this one module so that
``pytest -n 2 --dist loadscope`` runs them on one worker with one JupyterLab server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
ENABLE_HINT = "browser tests need Chromium: apt install chromium (or run with CI=1 via .ci/run)"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# code that builds widgets (``import ipywidgets`` only to print its version does not count)
WIDGET_CODE = re.compile(r"seqlib\.widgets|from ipywidgets import|import ipywidgets as|ipywidgets\.(?!__version__\b)\w")
STDERR = "application/vnd.jupyter.stderr"  # JupyterLab renders both stderr streams and tracebacks with it

# Seconds; the machine may be shared and slow, so the waits are generous (a healthy run is far quicker).
SERVER_START_S = float(os.environ.get("SEQLIB_BROWSER_SERVER_TIMEOUT", 120))
RUN_ALL_S = float(os.environ.get("SEQLIB_BROWSER_RUN_TIMEOUT", 300))  # same bound as nbval's cell timeout
UI_S = 60.0  # JupyterLab UI steps (open a notebook, menus, widget rendering)
REACT_S = 90.0  # the kernel recomputes and redraws after the slider moved

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--mute-audio",
]

# JupyterLab user settings (JUPYTERLAB_SETTINGS_DIR/<plugin path>.jupyterlab-settings)
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}
# server config (JUPYTER_CONFIG_DIR/jupyter_server_config.json); the safety timeouts stop a server
# whose test process died before its teardown ran
SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "extension_manager": "readonly",
    },
    "ServerApp": {"open_browser": False, "port_retries": 0, "shutdown_no_activity_timeout": 1800},
    "MappingKernelManager": {"cull_idle_timeout": 1200, "cull_interval": 120},
}


# ---------------------------------------------------------------- which notebooks, which browser


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def notebook_has_widgets(path: Path) -> bool:
    """True when a code cell builds widgets or a stored output is a widget view."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if WIDGET_CODE.search(_source(cell)):
            return True
        if any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", [])):
            return True
    return False


WIDGET_NOTEBOOKS = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if notebook_has_widgets(p))


def find_chromium() -> str | None:
    """Debian's Chromium; ``SEQLIB_CHROMIUM=/path`` picks another build (and a path that is not there: none)."""
    override = os.environ.get("SEQLIB_CHROMIUM")
    candidates = [override] if override else ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str) -> None:
    """Skip on a learner's machine; fail in CI, where the browser tests must run."""
    if _ci():
        pytest.fail(f"CI is set but {reason}; .ci/run installs Chromium with apt (as root)", pytrace=False)
    pytest.skip(ENABLE_HINT)


# ---------------------------------------------------------------- JupyterLab server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _project_python() -> str:
    venv_python = ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def _die_with_parent() -> None:  # runs in the child before exec (Linux): SIGTERM when pytest dies
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Lab:
    """A JupyterLab server on a temporary copy of the notebooks."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "course" / "notebooks"
        self.token = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / "jupyterlab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> dict[str, str]:
        shutil.copytree(NOTEBOOKS, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        (self.root.parent / "data").symlink_to(ROOT / "data")  # for a notebook that reads ../data
        dirs = {name: self.base / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir()
        (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG, indent=1))
        for plugin, values in LAB_SETTINGS.items():
            target = dirs["settings"] / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values, indent=1))
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, as for a learner
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            IPYTHONDIR=str(dirs["ipython"]),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        return env

    def start(self) -> None:
        env = self.prepare()
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = _free_port()
            cmd = [
                _project_python(),
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
            ]
            if hasattr(os, "getuid") and os.getuid() == 0:
                cmd.append("--allow-root")
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                )
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"JupyterLab did not start; its log ends with:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                self.api("GET", "/api/status", timeout=5)
                return True
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        return False

    def api(self, method: str, path: str, timeout: float = 10) -> Any:
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Stop every kernel (one notebook's kernel must not slow down the next one)."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        except (OSError, urllib.error.URLError, ValueError):
            pass

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_sessions()
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the server and its kernels: our own process group
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.proc = None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        where = os.environ.get("SEQLIB_CHROMIUM") or "no /usr/bin/chromium, no chromium on PATH"
        _unavailable(f"Chromium is missing ({where})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright for Python is not installed (it comes with .[test])")
    return path


@pytest.fixture(scope="module")
def lab(chromium: str) -> Iterator[Lab]:
    base = Path(tempfile.mkdtemp(prefix="seqlib-browser-"))
    server = Lab(base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser_context(chromium: str, lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = lab.base / "chromium-profile"  # a fresh user-data dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=UI_S * 1000,
        )
        try:
            yield context
        finally:
            context.close()


# ---------------------------------------------------------------- page helpers

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show (the only one: each test resets its workspace)
JS_PROMPTS = f"""() => Array.from(document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim())"""
JS_KERNEL_IDLE = f"""() => {{
    const k = document.querySelector('#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]');
    const i = document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator');
    return !!k && /[|]\\s*Idle$/.test(k.textContent.trim()) && !!i && i.getAttribute('data-status') === 'idle';
}}"""
# Run All is over when the kernel is idle and no cell is queued, and either every cell has run or an
# error stopped the run (JupyterLab then leaves the cells after it unrun); outputs were cleared before.
JS_RUN_OVER = f"""(n) => {{
    const prompts = ({JS_PROMPTS})();
    if (prompts.length !== n || prompts.some(p => p.includes('*')) || !({JS_KERNEL_IDLE})()) return false;
    return prompts.every(p => /^\\[\\d+\\]:$/.test(p))
        || !!document.querySelector('{PANEL} [data-mime-type="{STDERR}"]');
}}"""
JS_ERRORS = f"""() => Array.from(document.querySelectorAll('{PANEL} .jp-Cell')).flatMap((cell, i) =>
    Array.from(cell.querySelectorAll('[data-mime-type="{STDERR}"]')).map(o => [i, o.textContent]))"""


def _menu(page: Any, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def _digest(src: str | None) -> str | None:
    """Short SHA-256 of an <img> data URL's bytes (None when there is no image)."""
    if not src:
        return None
    payload = src.split(",", 1)[1] if src.startswith("data:") else src
    try:
        raw = base64.b64decode(payload)
    except ValueError:
        raw = payload.encode()
    return hashlib.sha256(raw).hexdigest()[:16]


OUTPUT_OF = "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-OutputArea-output ')][1]"
REFUSED = "cannot compute:"  # how seqlib.course.explorer.Explorer says that a setting is out of the model's range
MAX_SLIDERS = 4  # sliders tried, in page order, until one shows a full response
SETTLE_S = 10.0  # after the kernel answered: time for the browser to draw the new summary and figure

# Counts the kernel's busy states (status bar) from now on: the kernel's answer to a move, whatever it shows.
JS_WATCH_KERNEL = """() => {
    window.__seqlibBusy = 0;
    if (window.__seqlibWatch) return;
    const bar = document.querySelector('#jp-main-statusbar');
    window.__seqlibWatch = new MutationObserver(() => {
        const k = bar.querySelector('.jp-StatusBar-TextItem[title^="Change kernel"]');
        if (k && /[|]\\s*Busy$/.test(k.textContent.trim())) window.__seqlibBusy += 1;
    });
    window.__seqlibWatch.observe(bar, {childList: true, characterData: true, subtree: true});
}"""
JS_ANSWERED = f"() => window.__seqlibBusy > 0 && ({JS_KERNEL_IDLE})()"


def _shown(scope: Any, slider: Any) -> dict[str, Any]:
    """What a widget shows: the slider's readout, the summary line, the figure's bytes (digest)."""
    summary = scope.locator(".seqlib-summary")
    image = scope.locator("img")
    return {
        "readout": slider.locator(".widget-readout").first.inner_text().strip(),
        "summary": summary.first.inner_text().strip() if summary.count() else None,
        "image": _digest(image.first.get_attribute("src")) if image.count() else None,
    }


def _refused(shown: dict[str, Any]) -> bool:
    return (shown["summary"] or "").startswith(REFUSED)


def _responded(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """The slider moved and everything the widget shows changed with it (and the model computed)."""
    if after["readout"] == before["readout"] or _refused(after):
        return False
    if before["summary"] is None and before["image"] is None and after["image"] is None:
        return False  # no summary line, no figure: nothing to compare
    return all(
        after[k] is not None and after[k] != before[k]
        for k in ("summary", "image")
        if before[k] is not None or after[k] is not None
    )


def _move(page: Any, slider: Any, scope: Any, keys: list[str]) -> dict[str, Any]:
    """Press keys on the slider's handle; wait for the kernel's answer, then for the browser to show it."""
    previous = _shown(scope, slider)
    handle = slider.locator(".noUi-handle").first
    page.evaluate(JS_WATCH_KERNEL)
    handle.focus()
    for key in keys:
        handle.press(key)
    deadline = time.monotonic() + 10
    while _shown(scope, slider)["readout"] == previous["readout"] and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    now = _shown(scope, slider)
    if now["readout"] == previous["readout"]:
        return now  # the handle did not move: nothing was sent to the kernel
    try:
        page.wait_for_function(JS_ANSWERED, timeout=REACT_S * 1000, polling=100)
    except Exception as exc:  # noqa: BLE001 - reworded: this is the failure the test exists to catch
        raise AssertionError(f"the kernel did not answer the slider's move within {REACT_S:.0f} s") from exc
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:  # settled: shown twice alike with the kernel idle, after a change
        page.wait_for_timeout(300)
        again = _shown(scope, slider)
        changed = again["summary"] != previous["summary"] or again["image"] != previous["image"]
        if again == now and changed and page.evaluate(JS_KERNEL_IDLE):
            break
        now = again
    return now


def _drive(page: Any, slider: Any) -> dict[str, Any]:
    """Move one slider as a learner would and record what its widget showed before and after."""
    scope = slider.locator(OUTPUT_OF)
    scope.scroll_into_view_if_needed()
    if scope.locator(".seqlib-summary").count():  # an Explorer: wait for its first draw to arrive
        page.wait_for_function(
            "(el) => el.querySelector('.seqlib-summary').textContent.trim() !== ''", arg=scope.element_handle()
        )
    before = _shown(scope, slider)
    shot = scope.screenshot()
    handle = slider.locator(".noUi-handle").first
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
    # two steps away from where Run All left it; if the model refuses there (an Explorer's "cannot
    # compute"), two steps up from the slider's minimum
    attempts = [["ArrowLeft" if at_max else "ArrowRight"] * 2, ["Home", "ArrowRight", "ArrowRight"]]
    after, tried = before, []
    for keys in attempts:
        after = _move(page, slider, scope, keys)
        tried.append(f"{'+'.join(keys)} -> {after['readout']}: {after['summary']}")
        if _responded(before, after):
            break
    return {
        "ok": _responded(before, after),
        "before": before,
        "after": after,
        "keys": tried,
        "scope": scope,
        "shot": shot,
    }


def _stored_stderr_cells(path: Path) -> set[int]:
    """Cells whose stored outputs include a stderr stream (nbval accepts it there; nowhere else)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return {
        i
        for i, cell in enumerate(nb["cells"])
        if any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.get("outputs", []))
    }


def _displayed_errors(page: Any, allowed_stderr: set[int]) -> list[str]:
    found = []
    for index, text in page.evaluate(JS_ERRORS):
        if index in allowed_stderr and "Traceback" not in text and "Error" not in text:
            continue
        found.append(f"cell {index}: {text.strip()[:1500]}")
    return found


# ---------------------------------------------------------------- the test


def test_widget_notebooks_discovered() -> None:
    """The discovery itself: 00_welcome has a widget, so an empty list means discovery broke."""
    assert "00_welcome.ipynb" in WIDGET_NOTEBOOKS, WIDGET_NOTEBOOKS


@pytest.mark.browser
@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS)
def test_widgets_render_and_respond_in_jupyterlab(notebook: str, lab: Lab, browser_context: Any) -> None:
    stem = Path(notebook).stem
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{stem}-*.png"):  # this run's pictures only
        old.unlink()
    nb_json = json.loads((lab.root / notebook).read_text(encoding="utf-8"))
    n_code = sum(c.get("cell_type") == "code" for c in nb_json["cells"])
    page = browser_context.new_page()
    page.set_default_timeout(UI_S * 1000)
    page_errors: list[str] = []
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        # 1. open the notebook (stored outputs shown, as a learner first sees it) and wait for its kernel
        page.goto(f"{lab.url}/lab/workspaces/{stem}/tree/{notebook}?reset&token={lab.token}")
        page.wait_for_function(f"(n) => ({JS_PROMPTS})().length === n", arg=n_code, timeout=UI_S * 1000)
        page.wait_for_function(JS_KERNEL_IDLE, timeout=UI_S * 1000)  # the kernel started and is connected
        timings["open"] = time.monotonic() - t0

        # 2. clear the stored outputs, so that what is checked below can only come from this run, then Run All
        _menu(page, "Edit", "Clear Outputs of All Cells")
        page.wait_for_function(f"() => ({JS_PROMPTS})().every(p => !/\\d/.test(p))")
        t1 = time.monotonic()
        _menu(page, "Run", "Run All Cells")
        page.wait_for_function(JS_RUN_OVER, arg=n_code, timeout=RUN_ALL_S * 1000, polling=250)
        timings["run_all"] = time.monotonic() - t1

        # 3. no error displayed anywhere (tracebacks and unexpected stderr)
        allowed = _stored_stderr_cells(NOTEBOOKS / notebook)
        errors = _displayed_errors(page, allowed)
        assert not errors, "error output displayed after Run All:\n" + "\n".join(errors)
        unrun = [p for p in page.evaluate(JS_PROMPTS) if not re.fullmatch(r"\[\d+\]:", p)]
        assert not unrun, f"Run All left {len(unrun)} code cells unrun"
        body = page.locator(f"{PANEL} .jp-Notebook").inner_text()
        for bad in ("Error displaying widget", "Failed to load model class", "Model not found"):
            assert bad not in body, f"a widget failed to render: {bad!r} is displayed"

        # 4. the sliders, in page order; each belongs to a cell output that holds its whole control panel
        sliders = page.locator(f"{PANEL} .widget-slider")
        try:
            sliders.first.wait_for(state="visible", timeout=UI_S * 1000)
        except Exception as exc:  # noqa: BLE001 - reworded below
            raise AssertionError(
                f"{notebook} uses widgets but no slider rendered; extend tests/browser to drive its controls"
            ) from exc

        # 5. move a slider with the keyboard, as a learner can, and 6. check that what its widget shows
        # changed: the readout, then the kernel's recomputed summary line and figure.  The first slider
        # normally does; the next ones are tried only when the model refuses every position tried.
        t2 = time.monotonic()
        tried = []
        for index in range(min(sliders.count(), MAX_SLIDERS)):
            tried.append(_drive(page, sliders.nth(index)))
            if tried[-1]["ok"]:
                break
        timings["react"] = time.monotonic() - t2
        moved = tried[-1]
        (SCREENSHOTS / f"{stem}-before.png").write_bytes(moved["shot"])
        moved["scope"].scroll_into_view_if_needed()
        moved["scope"].screenshot(path=str(SCREENSHOTS / f"{stem}-after.png"))
        page.screenshot(path=str(SCREENSHOTS / f"{stem}-page.png"))

        report = "\n".join(
            [f"{notebook}: seconds {json.dumps({k: round(v, 1) for k, v in timings.items()})}"]
            + [
                f"  slider {i}: {'responded' if t['ok'] else 'no full response'}\n    before {t['before']}\n"
                f"    after  {t['after']}\n    keys   {t['keys']}"
                for i, t in enumerate(tried)
            ]
            + [f"  JavaScript errors: {page_errors or 'none'}; console errors: {console_errors or 'none'}"]
        )
        print(report)
        if _refused(tried[0]["before"]):
            warnings.warn(
                f"{notebook}: after Run All the first slider's widget shows {tried[0]['before']['summary']!r}",
                stacklevel=1,
            )
        assert moved["ok"], (
            f"no slider's widget responded in full (readout, summary line, figure)\n{report}\n"
            "(if a later cell drives the widget to a refused setting on purpose, give that demonstration a "
            "widget of its own, as 00_welcome does, so that Run All leaves the learner's widget usable)"
        )
        errors = _displayed_errors(page, allowed)
        assert not errors, "error output displayed after the slider moved:\n" + "\n".join(errors)
        widget_errors = [e for e in page_errors if "widget" in e.lower()]
        assert not widget_errors, f"JavaScript errors from the widgets: {widget_errors}"
    except BaseException:
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{stem}-failure.png"))
        except Exception:  # noqa: BLE001 - the original failure matters more
            pass
        print(f"JavaScript errors: {page_errors}\nconsole errors: {console_errors}\nJupyterLab log:\n{lab.log_tail()}")
        raise
    finally:
        page.close()
        lab.shutdown_sessions()
