#!/usr/bin/env python3
"""Renders a self-contained HTML page in headless Chromium and checks what a person would see.

    render_check.py PAGE.html|URL OUT.png [--timeout 60] [--settle 1.0] [--window-size 1280,2400]
                                      [--min-colours 20] [--min-coverage 0.01]
                                      [--text-out FILE] [--wait-for TEXT]

PAGE may also be an http://127.0.0.1:PORT/... address (the web view): requests to that origin
are the page's own; any other is reported as for a file. --text-out writes the page's visible
text (document.body.innerText) after it settled; --wait-for waits (within --timeout) until
that text appears, e.g. a line a running task has yet to write.

Standard library only. Chromium is driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: commands on fd 3, answers on fd 4, NUL-terminated JSON), so that
nothing listens on a port and every event of the page is seen:

* JavaScript: uncaught exceptions (`Runtime.exceptionThrown`), `console.error` / `console.assert`
  (`Runtime.consoleAPICalled`), and the browser's own error log (`Log.entryAdded`, level error:
  failed resource loads, CSP violations, ...) are all reported as `console_errors`;
* resource loads that fail (`Network.loadingFailed`) are reported as `failed_loads`;
* any request whose scheme is not file:, data:, blob: or about: is reported as a
  `network_requests` entry; such requests are also blocked (`Network.setBlockedURLs`, and the
  host resolver maps every name to NOTFOUND), so the check never sends traffic anywhere;
* before Chromium runs, the HTML text is scanned for src=/href=/srcset=/url()/@import references
  to http(s):, ws(s):, ftp: or protocol-relative `//` addresses (`static_external_refs`, a
  failure). Hyperlinks (`<a href>`, `<area href>`) load nothing until clicked: they are listed as
  `external_links` and fail only with --strict-links.

The screenshot (the window, `--window-size`, default 1280x2400) is written to OUT.png, then decoded
again with zlib + struct (8-bit greyscale, RGB, RGBA, grey+alpha, palette; filter types 0-4) and
must show more than `--min-colours` distinct colours, with at least `--min-coverage` of its pixels
differing from the most common (background) colour.

Prints one JSON line: {"width", "height", "colours", "non_background", "console_errors",
"failed_loads", "network_requests", "static_external_refs", "external_links", ...}. Exit status 0 when every check
passes, 1 when a check fails (the reasons on stderr, one per line), 2 when Chromium is missing,
cannot start, crashes or runs past the timeout (it is then killed).

Chromium: the binary named by $DAGCTL_CHROMIUM, else `chromium`, `chromium-browser`,
`google-chrome` on PATH. It runs with --no-sandbox (root in a container) and a throw-away profile.
"""
import argparse
import array
import base64
import collections
import fcntl
import json
import os
import pathlib
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:", "devtools:")


def origin_of(url):
    """scheme://host:port of an http(s) address on loopback, else None."""
    m = re.match(r"^(https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?)(?:/|$)", url)
    return m.group(1) if m else None

# --- static scan of the HTML --------------------------------------------------------------------

_EXTERNAL = r"(?:(?:https?|wss?|ftp):)?//"
_ATTR_RE = re.compile(
    # Not after a dot: `el.href = "..."` in a script is a property, left to the runtime checks.
    r"(?<![\w:.-])(src|href|xlink:href|srcset|action|formaction|poster|background|data|manifest|ping)"
    r"\s*=\s*([\"']?)\s*(" + _EXTERNAL + r"[^\"'\s>]*)",
    re.IGNORECASE,
)
_SRCSET_RE = re.compile(r"(?<![\w:.-])(?:srcset|imagesrcset)\s*=\s*([\"'])(.*?)\1", re.IGNORECASE | re.DOTALL)
_CSS_URL_RE = re.compile(r"url\(\s*([\"']?)\s*(" + _EXTERNAL + r"[^\"')\s]*)", re.IGNORECASE)
_CSS_IMPORT_RE = re.compile(r"@import\s+([\"'])\s*(" + _EXTERNAL + r"[^\"']*)", re.IGNORECASE)


_TAG_RE = re.compile(r"<\s*([a-zA-Z][\w:-]*)[^<]*$")


def _tag_of(html, pos):
    """The name of the tag whose attribute starts at `pos` (lower case), or ''."""
    m = _TAG_RE.search(html, max(0, pos - 2000), pos)
    return m.group(1).lower() if m else ""


def static_external_refs(html):
    """(references that would make the browser load something from outside the file,
    hyperlinks to outside pages: `<a href>` / `<area href>`, which load nothing until clicked)."""
    found, links = [], []
    for m in _ATTR_RE.finditer(html):
        ref = f"{m.group(1)}={m.group(3)}"
        if m.group(1).lower() in ("href", "ping") and _tag_of(html, m.start()) in ("a", "area"):
            links.append(ref)
        else:
            found.append(ref)
    for m in _SRCSET_RE.finditer(html):
        for candidate in m.group(2).split(","):
            url = candidate.strip().split(" ")[0]
            if re.match(_EXTERNAL, url, re.IGNORECASE) and f"srcset={url}" not in found:
                found.append(f"srcset={url}")
    for m in _CSS_URL_RE.finditer(html):
        found.append(f"url({m.group(2)})")
    for m in _CSS_IMPORT_RE.finditer(html):
        found.append(f"@import {m.group(2)}")
    return sorted(set(found)), sorted(set(links))


# --- PNG decoding (zlib + struct) ---------------------------------------------------------------


class PngError(Exception):
    pass


def _add_rows(a, b, n, m7, m8):
    """Bytewise (a + b) mod 256 over whole rows at once, with big integers (SWAR)."""
    x = int.from_bytes(a, "big")
    y = int.from_bytes(b, "big")
    return bytearray((((x & m7) + (y & m7)) ^ ((x ^ y) & m8)).to_bytes(n, "big"))


def _unfilter(raw, height, stride, bpp):
    rows = []
    prev = bytearray(stride)
    m7 = int.from_bytes(b"\x7f" * stride, "big")
    m8 = int.from_bytes(b"\x80" * stride, "big")
    pos = 0
    for _ in range(height):
        if pos + 1 + stride > len(raw):
            raise PngError("image data is shorter than the header says")
        ft = raw[pos]
        line = bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if ft == 0:
            pass
        elif ft == 1:  # Sub: a running sum per channel
            for c in range(bpp):
                acc = 0
                chan = line[c::bpp]
                for i, v in enumerate(chan):
                    acc = (acc + v) & 0xFF
                    chan[i] = acc
                line[c::bpp] = chan
        elif ft == 2:  # Up
            line = _add_rows(line, prev, stride, m7, m8)
        elif ft == 3:  # Average
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 0xFF
        elif ft == 4:  # Paeth
            for x in range(stride):
                up = prev[x]
                if x >= bpp:
                    left = line[x - bpp]
                    ul = prev[x - bpp]
                else:
                    left = ul = 0
                p = left + up - ul
                pa = p - left if p >= left else left - p
                pb = p - up if p >= up else up - p
                pc = p - ul if p >= ul else ul - p
                if pa <= pb and pa <= pc:
                    pred = left
                elif pb <= pc:
                    pred = up
                else:
                    pred = ul
                line[x] = (line[x] + pred) & 0xFF
        else:
            raise PngError(f"unknown filter type {ft}")
        rows.append(line)
        prev = line
    return rows


def decode_png(path):
    """Returns (width, height, Counter of pixel values) for an 8-bit, non-interlaced PNG."""
    data = pathlib.Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise PngError("not a PNG file")
    pos = 8
    idat = []
    header = None
    palette = None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise PngError(f"bad CRC in chunk {ctype!r}")
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            palette = body
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if header is None or not idat:
        raise PngError("missing IHDR or IDAT")
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8:
        raise PngError(f"bit depth {depth} not supported (8 only)")
    if interlace:
        raise PngError("interlaced PNG not supported")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour_type)
    if channels is None:
        raise PngError(f"colour type {colour_type} not supported")
    if colour_type == 3 and palette is None:
        raise PngError("palette image without PLTE")
    raw = zlib.decompress(b"".join(idat))
    rows = _unfilter(raw, height, width * channels, channels)
    counts = collections.Counter()
    for line in rows:
        if channels == 4:
            counts.update(array.array("I", bytes(line)))
        elif channels == 3:  # widen RGB to 4 bytes per pixel so that array('I') can read it
            wide = bytearray(width * 4)
            wide[0::4] = line[0::3]
            wide[1::4] = line[1::3]
            wide[2::4] = line[2::3]
            counts.update(array.array("I", bytes(wide)))
        elif channels == 2:
            counts.update(array.array("H", bytes(line)))
        elif colour_type == 3:  # count palette colours, not indices
            counts.update(palette[3 * i : 3 * i + 3] for i in line)
        else:
            counts.update(line)
    return width, height, counts


# --- Chromium over the DevTools pipe ------------------------------------------------------------


class ChromiumError(Exception):
    pass


def find_chromium():
    env = os.environ.get("DAGCTL_CHROMIUM")
    if env:
        path = shutil.which(env) or (env if os.access(env, os.X_OK) else None)
        if not path:
            raise ChromiumError(f"DAGCTL_CHROMIUM={env!r} is not an executable")
        return path
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumError(
        "no Chromium found: set DAGCTL_CHROMIUM or install Debian's `chromium` package "
        "(apt-get install -y chromium)"
    )


class DevTools:
    """A minimal DevTools client on --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, binary, flags, deadline):
        self.deadline = deadline
        self.events = queue.Queue()
        self.replies = {}
        self.cond = threading.Condition()
        self.next_id = 0
        self.closed = False
        cmd_r, self.cmd_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        # Move the child's ends above the low numbers so that dup2 onto 3 and 4 cannot clobber them.
        hi_cmd_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 20)
        hi_resp_w = fcntl.fcntl(resp_w, fcntl.F_DUPFD_CLOEXEC, 20)
        os.close(cmd_r)
        os.close(resp_w)

        def child_fds():
            os.dup2(hi_cmd_r, 3)  # dup2 makes 3 and 4 inheritable; everything else is CLOEXEC
            os.dup2(hi_resp_w, 4)

        self.stderr_file = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [binary, *flags],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.stderr_file,
                close_fds=False,
                preexec_fn=child_fds,
                start_new_session=True,
            )
        except OSError as e:
            raise ChromiumError(f"cannot start {binary}: {e}") from e
        finally:
            os.close(hi_cmd_r)
            os.close(hi_resp_w)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.resp_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                try:
                    obj = json.loads(msg)
                except ValueError:
                    continue
                if "id" in obj:
                    with self.cond:
                        self.replies[obj["id"]] = obj
                        self.cond.notify_all()
                else:
                    self.events.put(obj)
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.events.put(None)

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        except OSError as e:
            raise ChromiumError(f"Chromium closed its DevTools pipe ({e})") from e
        return self.next_id

    def call(self, method, params=None, session=None):
        cid = self.send(method, params, session)
        with self.cond:
            while cid not in self.replies:
                if self.closed:
                    raise ChromiumError(f"Chromium exited during {method}")
                self.cond.wait(min(self.remaining(), 0.5))
            reply = self.replies.pop(cid)
        if "error" in reply:
            raise ChromiumError(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    def stderr_tail(self, n=15):
        if self.stderr_file.closed:
            return ""
        self.stderr_file.seek(0)
        lines = self.stderr_file.read().decode(errors="replace").splitlines()
        lines = [ln for ln in lines if "unexpected operator" not in ln]  # Debian launcher noise
        return "\n".join(lines[-n:])

    def close(self):
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None and not self.closed:
                self.send("Browser.close")
                self.proc.wait(timeout=5)
        except Exception:
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        for fd in (self.cmd_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stderr_file.close()
        self.proc = None


def _remote_text(obj):
    if "value" in obj:
        return obj["value"] if isinstance(obj["value"], str) else json.dumps(obj["value"])
    return obj.get("description") or obj.get("unserializableValue") or obj.get("type", "?")


class PageWatch:
    """Collects what the page did from the DevTools events."""

    def __init__(self, origin=None):
        self.origin = origin
        self.console_errors = []
        self.console_warnings = []
        self.failed_loads = []
        self.network_requests = []
        self.urls = {}
        self.loaded = False
        self.crashed = False

    def handle(self, ev):
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exc = d.get("exception") or {}
            desc = exc.get("description") or d.get("text", "exception")
            first = desc.splitlines()[0] if desc else d.get("text", "")
            where = f" ({d.get('url') or 'inline'}:{d.get('lineNumber', 0) + 1}:{d.get('columnNumber', 0) + 1})"
            prefix = "Uncaught " if d.get("text", "").startswith("Uncaught") and not first.startswith("Uncaught") else ""
            self.console_errors.append(prefix + first + where)
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(a) for a in p.get("args", []))
            if p.get("type") in ("error", "assert"):
                self.console_errors.append(f"console.{p.get('type')}: {text}")
            elif p.get("type") == "warning":
                self.console_warnings.append(f"console.warn: {text}")
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            line = f"[{e.get('source')}] {e.get('text')}" + (f" ({e['url']})" if e.get("url") else "")
            if e.get("level") == "error":
                self.console_errors.append(line)
            elif e.get("level") == "warning":
                self.console_warnings.append(line)
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            self.urls[p.get("requestId")] = url
            own = self.origin and (url == self.origin or url.startswith(self.origin + "/"))
            if not url.lower().startswith(LOCAL_SCHEMES) and not own:
                self.network_requests.append(url)
        elif method == "Network.loadingFailed":
            url = self.urls.get(p.get("requestId"), "?")
            reason = p.get("blockedReason") or p.get("errorText", "failed")
            if not p.get("canceled"):
                self.failed_loads.append(f"{url}: {reason}")
        elif method == "Page.loadEventFired":
            self.loaded = True
        elif method in ("Inspector.targetCrashed", "Target.targetCrashed"):
            self.crashed = True


def render(page, out_png, args):
    binary = find_chromium()
    width, height = args.window_size
    origin = origin_of(str(page))
    profile = tempfile.mkdtemp(prefix="render-check-")
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--remote-debugging-pipe",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--mute-audio",
        "--disable-breakpad",
        "--disable-crash-reporter",
        "--force-color-profile=srgb",
        # Every name fails to resolve; the web view's loopback origin is left alone.
        "--host-resolver-rules=MAP * ~NOTFOUND" + (", EXCLUDE 127.0.0.1, EXCLUDE localhost" if origin else ""),
        "--enable-logging=stderr",
        "--v=0",
        "about:blank",
    ]
    watch = PageWatch(origin)
    info = {"chromium": binary}
    dt = DevTools(binary, flags, time.monotonic() + args.timeout)

    def pump(until, stop=lambda: False):
        """Handles events until the monotonic time `until` or until stop() holds."""
        while not stop():
            left = min(until, dt.deadline) - time.monotonic()
            if left <= 0:
                if time.monotonic() >= dt.deadline:
                    raise TimeoutError
                return
            try:
                ev = dt.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                raise ChromiumError("Chromium exited while the page was loading")
            watch.handle(ev)

    try:
        info["version"] = dt.call("Browser.getVersion").get("product")
        targets = dt.call("Target.getTargets").get("targetInfos", [])
        pages = [t for t in targets if t.get("type") == "page"]
        target = pages[0]["targetId"] if pages else dt.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable", "Inspector.enable"):
            dt.call(method, session=session)
        if not origin:
            dt.call(
                "Network.setBlockedURLs",
                {"urls": ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]},
                session=session,
            )
        dt.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        target_url = str(page) if origin else pathlib.Path(page).resolve().as_uri()
        nav = dt.call("Page.navigate", {"url": target_url}, session=session)
        if nav.get("errorText"):
            raise ChromiumError(f"navigation failed: {nav['errorText']}")
        pump(dt.deadline, lambda: watch.loaded or watch.crashed)
        if not watch.crashed:
            # Web fonts and two animation frames, then a quiet period for timers and late errors.
            dt.call(
                "Runtime.evaluate",
                {
                    "expression": "document.fonts.ready.then(() => new Promise(r => "
                    "requestAnimationFrame(() => requestAnimationFrame(() => r(1)))))",
                    "awaitPromise": True,
                },
                session=session,
            )
            pump(time.monotonic() + args.settle, lambda: watch.crashed)
            while args.wait_for and not watch.crashed:
                seen = dt.call(
                    "Runtime.evaluate",
                    {"expression": "document.body ? document.body.innerText : ''", "returnByValue": True},
                    session=session,
                ).get("result", {}).get("value", "")
                if args.wait_for in seen:
                    break
                pump(time.monotonic() + 0.25, lambda: watch.crashed)
        if watch.crashed:
            raise ChromiumError("the page's renderer crashed")
        stats = dt.call(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify({elements: document.getElementsByTagName('*').length, "
                "text: (document.body ? document.body.innerText.trim().length : 0), "
                "scroll_height: document.documentElement.scrollHeight})",
                "returnByValue": True,
            },
            session=session,
        )
        info["dom"] = json.loads(stats.get("result", {}).get("value", "{}"))
        text = dt.call(
            "Runtime.evaluate",
            {"expression": "document.body ? document.body.innerText : ''", "returnByValue": True},
            session=session,
        )
        info["text"] = text.get("result", {}).get("value", "")
        shot = dt.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
            session=session,
        )
        pathlib.Path(out_png).write_bytes(base64.b64decode(shot["data"]))
        # Events that arrived while the last commands ran.
        while True:
            try:
                ev = dt.events.get_nowait()
            except queue.Empty:
                break
            if ev is not None:
                watch.handle(ev)
    except TimeoutError:
        tail = dt.stderr_tail()
        dt.close()
        raise ChromiumError(f"Chromium did not finish within {args.timeout:g} s (killed)\n{tail}")
    except ChromiumError as e:
        tail = dt.stderr_tail()
        dt.close()
        raise ChromiumError(f"{e}\n{tail}") from None
    finally:
        dt.close()
        shutil.rmtree(profile, ignore_errors=True)
    return watch, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page")
    ap.add_argument("out_png")
    ap.add_argument("--timeout", type=float, default=60.0, help="kill Chromium after this many seconds")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to watch the page after it loaded")
    ap.add_argument(
        "--window-size",
        default="1280,2400",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        help="W,H of the window and screenshot",
    )
    ap.add_argument("--min-colours", type=int, default=20, help="require more distinct colours than this")
    ap.add_argument("--min-coverage", type=float, default=0.01, help="minimum non-background pixel fraction")
    ap.add_argument(
        "--strict-links",
        action="store_true",
        help="fail on hyperlinks (<a href>) to outside pages too, not only on external resources",
    )
    ap.add_argument("--text-out", help="write the page's visible text here")
    ap.add_argument("--wait-for", help="wait until the page's visible text holds this")
    args = ap.parse_args()

    if origin_of(args.page):
        import urllib.request

        page = args.page
        try:
            with urllib.request.urlopen(page, timeout=args.timeout) as r:
                html = r.read().decode("utf-8", errors="replace")
        except OSError as e:
            print(f"render_check: cannot fetch {page}: {e}", file=sys.stderr)
            return 2
    else:
        page = pathlib.Path(args.page)
        if not page.is_file():
            print(f"render_check: no such file: {page}", file=sys.stderr)
            return 2
        html = page.read_text(encoding="utf-8", errors="replace")
    refs, links = static_external_refs(html)
    if args.strict_links:
        refs, links = sorted(set(refs) | set(links)), []
    try:
        if os.path.exists(args.out_png):
            os.remove(args.out_png)
        watch, info = render(page, args.out_png, args)
    except ChromiumError as e:
        print(f"render_check: FAIL: {e}", file=sys.stderr)
        return 2

    if args.text_out:
        pathlib.Path(args.text_out).write_text(info.get("text", ""), encoding="utf-8")
    failures = []
    summary = {"width": None, "height": None, "colours": 0, "non_background": 0.0}
    if not os.path.isfile(args.out_png) or os.path.getsize(args.out_png) == 0:
        failures.append(f"no screenshot was written to {args.out_png}")
    else:
        try:
            w, h, counts = decode_png(args.out_png)
            total = sum(counts.values())
            bg = counts.most_common(1)[0][1] if counts else 0
            summary.update(
                width=w,
                height=h,
                colours=len(counts),
                non_background=round(1 - bg / total, 4) if total else 0.0,
            )
            if len(counts) <= args.min_colours:
                failures.append(
                    f"blank-looking page: {len(counts)} distinct colour(s) in the screenshot "
                    f"(need more than {args.min_colours})"
                )
            if summary["non_background"] < args.min_coverage:
                failures.append(
                    f"blank-looking page: only {summary['non_background']:.2%} of the pixels differ "
                    f"from the background (need {args.min_coverage:.2%})"
                )
        except (PngError, zlib.error, struct.error) as e:
            failures.append(f"cannot decode the screenshot: {e}")
    summary.update(
        console_errors=watch.console_errors,
        failed_loads=watch.failed_loads,
        network_requests=watch.network_requests,
        static_external_refs=refs,
        external_links=links,
        console_warnings=watch.console_warnings,
        dom=info.get("dom"),
        chromium=info.get("version"),
    )
    for msg in watch.console_errors:
        failures.append(f"console error: {msg}")
    for msg in watch.failed_loads:
        failures.append(f"failed load: {msg}")
    for url in watch.network_requests:
        failures.append(f"network request attempted (page not self-contained): {url}")
    for ref in refs:
        failures.append(f"external reference in the HTML (page not self-contained): {ref}")
    summary["ok"] = not failures
    print(json.dumps(summary))
    for msg in failures:
        print(f"render_check: FAIL: {msg}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
