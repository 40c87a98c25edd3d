#!/usr/bin/env bash
# Opens a ptbench report page in headless Chromium at 1200 px and checks that every chart
# rendered: the expected number of <figure class="chart"> SVGs, each laid out at a real size with
# drawn shapes and text; that every table and text block fits its box (no column or word cut off or scrolled out of
# sight); and a full-page screenshot that is not blank.
#
# Usage: bash scripts/check-report.sh REPORT.html [EXPECTED_CHARTS] [SCREENSHOT.png]
# Installs Debian's chromium when it is missing. Prints "N passed, M failed"; exits 1 on a failure.
set -euo pipefail

page="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
expected="${2:-}"
shot="${3:-}"

if ! command -v chromium >/dev/null 2>&1; then
  echo "check-report: installing chromium (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$work/profile" --hide-scrollbars)

# A copy of the page with a probe that writes what it measured into the DOM.
probe="$work/probe.html"
sed 's#</body></html>##' "$page" > "$probe"
cat >> "$probe" <<'JS'
<script>
window.addEventListener('load', () => {
  const out = [];
  document.querySelectorAll('figure.chart').forEach(f => {
    const svg = f.querySelector('svg');
    if (!svg) { out.push(f.id + ' nosvg'); return; }
    const r = svg.getBoundingClientRect();
    let shapes = 0, area = 0;
    svg.querySelectorAll('rect,path,polyline,line,circle').forEach(e => {
      const b = e.getBBox(); if (b.width > 0 || b.height > 0) { shapes++; area += b.width * b.height; }
    });
    const texts = [...svg.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length;
    out.push(f.id + ' ' + Math.round(r.width) + 'x' + Math.round(r.height) + ' shapes=' + shapes + ' texts=' + texts);
  });
  const pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = 'PROBE\n' + out.join('\n') + '\nEND';
  document.body.appendChild(pre);
  const wide = [];
  document.querySelectorAll('table').forEach((t, i) => {
    const box = t.parentElement.classList.contains('scroll') ? t.parentElement : document.body;
    const over = Math.max(t.scrollWidth - box.clientWidth, t.getBoundingClientRect().right - document.documentElement.clientWidth);
    wide.push('table' + i + ' ' + (t.className.split(' ')[0] || 'plain') + ' overflow=' + Math.round(over));
  });
  // Text (a caption naming a long cache spec, a verdict sentence) wraps inside the page.
  document.querySelectorAll('figcaption, p, li, h1, h2, h3').forEach((e, i) => {
    const over = Math.max(e.scrollWidth - e.clientWidth, e.getBoundingClientRect().right - document.documentElement.clientWidth);
    wide.push('text' + i + ' ' + e.tagName.toLowerCase() + ' overflow=' + Math.round(over));
  });
  const pre2 = document.createElement('pre');
  pre2.id = 'probe-tables';
  pre2.textContent = 'TABLES\n' + wide.join('\n') + '\nEND';
  document.body.appendChild(pre2);
});
</script></body></html>
JS
chromium "${flags[@]}" --window-size=1200,3000 --virtual-time-budget=10000 --dump-dom "file://$probe" > "$work/dom.html" 2>"$work/chromium.log" || {
  cat "$work/chromium.log" >&2; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }
lines="$(sed -n '/probe-result">PROBE$/,/^END/p' "$work/dom.html" | sed '1d;$d')"
tables="$(sed -n '/probe-tables">TABLES$/,/^END/p' "$work/dom.html" | sed '1d;$d')"
count="$(printf '%s\n' "$lines" | grep -c . || true)"
echo "charts rendered in Chromium: $count"
printf '%s\n' "$lines"
if [ -n "$expected" ]; then
  check test "$count" -eq "$expected" || echo "FAILED: expected $expected charts, found $count" >&2
else
  check test "$count" -gt 0
fi
while read -r id size shapes texts; do
  [ -z "$id" ] && continue
  w="${size%x*}"; h="${size#*x}"; s="${shapes#shapes=}"; t="${texts#texts=}"
  if [ "$w" -ge 300 ] && [ "$h" -ge 150 ] && [ "$s" -ge 10 ] && [ "$t" -ge 5 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: chart $id looks blank ($size, $shapes, $texts)" >&2
  fi
done <<< "$lines"

# Every table and every text block fits the page at 1200 px: no column or word cut off.
printf '%s\n' "$tables"
while read -r name cls over; do
  [ -z "$name" ] && continue
  if [ "${over#overflow=}" -le 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: $name ($cls) is wider than the page by ${over#overflow=} px" >&2
  fi
done <<< "$tables"

# A screenshot of the whole page, checked for content (many colours, few white rows).
png="${shot:-$work/shot.png}"
chromium "${flags[@]}" --window-size=1200,3000 --screenshot="$png" "file://$page" 2>>"$work/chromium.log" >/dev/null
python3 - "$png" <<'PY' && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAILED: the screenshot is blank" >&2; }
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, w, h, bpp = 8, b'', 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, ink = set(), 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, w, 4):
            px = bytes(line[x * bpp:x * bpp + 3])
            colours.add(px)
            ink += px != b'\xff\xff\xff'
print(f"screenshot {w}x{h}: {len(colours)} colours, {ink} sampled non-white pixels")
sys.exit(0 if len(colours) > 20 and ink > 2000 else 1)
PY
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
