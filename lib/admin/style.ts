// The admin pages' one stylesheet (served as /style.css; no build step, no scripts).
export const STYLESHEET = `:root{--fg:#1d2330;--muted:#5d6675;--line:#d9dee6;--bg:#f6f7f9;--accent:#1f5fbf;--ok:#1d7a3e;--bad:#b42318;--warn:#8a5a00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{background:#17233a;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header .brand{font-weight:600;letter-spacing:.02em}
header nav a{color:#cfd9ec;text-decoration:none;margin-right:1rem;padding:.2rem 0}
header nav a.here{color:#fff;border-bottom:2px solid #7fb0ff}
header .who{margin-left:auto;color:#cfd9ec;font-size:.9em}
main{max-width:80rem;margin:1.2rem auto;padding:0 1.5rem}
h1{font-size:1.35rem;margin:.4rem 0 1rem}
h2{font-size:1.1rem;margin:1.4rem 0 .6rem}
a{color:var(--accent)}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line)}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:.9em}
td.mono,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.88em;overflow-wrap:break-word}
td.when,td.key{white-space:nowrap;font-size:.9em}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;border:1px solid var(--line);padding:1rem}
dt{color:var(--muted)}dd{margin:0;word-break:break-word}
pre{background:#fff;border:1px solid var(--line);padding:.8rem;overflow:auto;font-size:.82em}
form.inline{display:flex;gap:.4rem;flex-wrap:wrap;align-items:center;margin:0}
form.decide{max-width:16rem}form.decide input[type=text]{flex:1 0 100%}
input[type=text],input[type=search],input[type=number],select{font:inherit;padding:.3rem .45rem;border:1px solid #b8c0cc;border-radius:4px;background:#fff}
button{font:inherit;padding:.3rem .8rem;border-radius:4px;border:1px solid #8d97a6;background:#fff;cursor:pointer}
button.approve{background:var(--ok);border-color:var(--ok);color:#fff}
button.deny,button.revoke{background:#fff;border-color:var(--bad);color:var(--bad)}
.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}
.filters label{display:flex;flex-direction:column;font-size:.85em;color:var(--muted)}
.notice,.error{padding:.6rem .9rem;border-radius:4px;margin-bottom:1rem;border:1px solid}
.notice{background:#e8f5ec;border-color:#9fd1b0;color:#134e28}
.error{background:#fdecea;border-color:#f2b8b1;color:#7a1a10}
.badge{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8em;border:1px solid}
.s-pending{color:var(--warn);border-color:#e0c26b;background:#fff8e1}
.s-approved,.s-issued,.s-valid{color:var(--ok);border-color:#9fd1b0;background:#e8f5ec}
.s-denied,.s-revoked{color:var(--bad);border-color:#f2b8b1;background:#fdecea}
.s-expired{color:var(--muted);border-color:var(--line);background:#f0f2f5}
.tabs{margin-bottom:.8rem}.tabs a{margin-right:.8rem}.tabs a.here{font-weight:600;color:var(--fg);text-decoration:none}
.pager{display:flex;gap:1rem;align-items:center;margin:.8rem 0;color:var(--muted)}
.muted{color:var(--muted)}
.empty{padding:1.2rem;background:#fff;border:1px solid var(--line);color:var(--muted)}
`;
