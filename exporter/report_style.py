"""The report page's stylesheet, inline in the page: system fonts only, nothing fetched.

Laid out for a laptop first (1280x800 shows the header, the numbers per severity and the first two charts), in one
column on a narrow screen. Severity colours are the charts' (exporter.report.SEVERITY_COLOURS); text is dark on
light, colour only marks, so the numbers read the same to people who do not tell red from green.
"""

STYLE = """
:root{--fg:#1d2330;--muted:#596273;--line:#dde1e7;--bg:#f3f5f8;--panel:#fff;
--ok:#1b7a3a;--warn:#a85a00;--bad:#b00020}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:1440px;margin:0 auto;padding:14px 20px 32px}
header{display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:2px 24px;margin:0 0 10px}
h1{font-size:21px;margin:0;font-weight:650}
h1 .cluster{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:19px;background:#e4e8ee;
padding:1px 8px;border-radius:5px;margin-left:6px}
h2{font-size:15px;margin:0;font-weight:650}
h3{font-size:13px;margin:10px 0 4px;font-weight:650}
.meta,.sub,.muted{color:var(--muted)}
.meta{margin:0}
.sub{font-size:12.5px;margin:1px 0 4px}
.notice{background:#fff6e0;border:1px solid #f0d48a;border-radius:6px;padding:6px 10px;margin:0 0 10px}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:10px;margin:0 0 12px}
.card{background:var(--panel);border:1px solid var(--line);border-top:5px solid var(--sev,#596273);
border-radius:8px;padding:7px 12px 8px}
.card .label{font-weight:650;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:29px;font-weight:700;font-variant-numeric:tabular-nums;line-height:1.2}
.card .change{font-size:12.5px;color:var(--muted)}
.card.outcome .value{font-size:20px;padding:5px 0 4px}
.row{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px;margin:0 0 12px}
.stack{display:grid;gap:12px;align-content:start}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:10px 14px 10px;min-width:0}
svg.chart{display:block;width:100%;height:auto;font-size:11px;fill:var(--fg)}
svg.chart .grid line{stroke:#e6e9ee;stroke-width:1}
svg.chart .baseline,svg.chart .zero{stroke:#8a93a3;stroke-width:1.2}
svg.chart .axis line{stroke:#8a93a3}
svg.chart .axis text{fill:#4a5262}
svg.chart .axis-title{fill:var(--muted);font-size:11.5px}
svg.chart .no-data{fill:var(--muted);font-size:14px}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;list-style:none;padding:0;margin:4px 0 0;font-size:12.5px}
.legend li{display:flex;align-items:center;gap:5px;white-space:nowrap}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:650;border-bottom:2px solid var(--line)}
thead tr.group th{border-bottom:1px solid var(--line);padding-bottom:0;font-weight:600}
thead tr.group th:empty{border-bottom:0}
.num{text-align:right}
table.facts th{width:1%;white-space:nowrap;padding-right:28px;color:var(--muted);font-weight:600}
.chips{display:flex;flex-wrap:wrap;gap:6px;list-style:none;padding:0;margin:0 0 6px}
.badge,.chip{display:inline-block;padding:0 8px;border-radius:10px;font-weight:650;font-size:12.5px;
border:1px solid currentColor}
.ok{color:var(--ok);background:#e8f5ec}.warn{color:var(--warn);background:#fff3e0}
.bad{color:var(--bad);background:#fde8eb}.plain{color:var(--muted);background:#f1f3f6}
.up{color:#8a1020;font-weight:600}.down{color:var(--ok);font-weight:600}.zero{color:var(--muted)}
table.images td.image{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px;max-width:0;
width:62%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.barcell{width:28%}
.hbar{display:block;height:10px;margin-top:4px;background:#7a0010;border-radius:2px;min-width:2px}
.scroll{overflow-x:auto}
table.runs code{font-size:12.5px}
table.runs tbody tr:nth-child(even){background:#fafbfc}
th.sev-critical{color:#7a0010}th.sev-high{color:#b5370f}th.sev-medium{color:#8a6000}
th.sev-low{color:#2b6cb0}th.sev-info{color:#596273}
a{color:#1f5fa8}
@media (max-width:1100px){.cards{grid-template-columns:repeat(3,minmax(0,1fr))}.row{grid-template-columns:1fr}}
@media (max-width:560px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}main{padding:10px}}
@media print{body{background:#fff}.panel,.card{break-inside:avoid}}
"""
