/* html.c — the report page: metadata, provenance, warnings and the charts in one
 * self-contained HTML file (no network: inline SVG, CSS and JS); and the charts as SVG files. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/charts.h"
#include "report/common.h"
#include "base/safefile.h"

static const char style[] =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px;overflow-wrap:anywhere}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:28px 0 6px}"
    "table.meta{border-collapse:collapse;font-size:12px}table.meta td{padding:1px 10px 1px 0}"
    "table.meta td:first-child{color:#666}.prov{font-size:13px;color:#333}"
    ".warnings{background:#fff4e5;border-left:4px solid #f28e2b;padding:6px 12px 6px 28px;"
    "font-size:13px}.hint{font-size:11px;color:#777}svg.chart{display:block;margin:4px 0;max-width:100%;height:auto}"
    "#pw-errors{color:#b00}details{margin:8px 0;font-size:13px}summary{cursor:pointer}";

/* Drag on a power chart to zoom on time, double-click to reset; hover reads the total
 * power. Errors land in #pw-errors so a headless browser can see them, and #pw-layout counts
 * the labels that cross their chart's edge and the charts or page wider than the window. */
static const char script[] =
    "(function(){var st=document.getElementById('pw-status'),er=document.getElementById('pw-errors');"
    "window.addEventListener('error',function(e){er.textContent+=(e.message||'error')+'\\n';"
    "st.textContent='error';});"
    "document.querySelectorAll('g.timeline').forEach(function(g){var svg=g.ownerSVGElement,"
    "L=+g.dataset.left,N=+g.dataset.ncol,T=+g.dataset.t,top=+g.dataset.top,bot=+g.dataset.bottom,"
    "P=(g.dataset.power||'').split(',').map(Number),v0=0,v1=1,drag=null,"
    "cur=g.querySelector('line.cursor'),out=g.querySelector('text.readout'),"
    "sel=document.createElementNS('http://www.w3.org/2000/svg','rect');"
    "sel.setAttribute('fill','#4e79a7');sel.setAttribute('fill-opacity','0.15');"
    "sel.setAttribute('y',top);sel.setAttribute('height',bot-top);sel.setAttribute('width',0);g.appendChild(sel);"
    "function px(e){var r=svg.getBoundingClientRect();return (e.clientX-r.left)*svg.viewBox.baseVal.width/r.width;}"
    "function frac(x){return v0+(Math.min(Math.max(x,L),L+N)-L)/N*(v1-v0);}"
    "function si(v){var a=Math.abs(v);return a>=1?v.toFixed(a>=100?0:2)+' s':a>=1e-3?(v*1e3).toFixed(2)+' ms':(v*1e6).toFixed(1)+' µs';}"
    "function axis(){var ax=g.querySelector('g.taxis'),y=+ax.dataset.y,a=v0*T,b=v1*T,"
    "s=Math.pow(10,Math.floor(Math.log10((b-a)/8))),f=(b-a)/8/s;s*=f<1.5?1:f<3.5?2:f<7.5?5:10;"
    "var h='';for(var t=Math.ceil(a/s)*s;t<=b+s*1e-9;t+=s){var x=L+(t-a)/(b-a)*N;"
    "h+='<line x1=\"'+x+'\" x2=\"'+x+'\" y1=\"'+y+'\" y2=\"'+(y+4)+'\" stroke=\"#999\"/>'+"
    "'<text x=\"'+x+'\" y=\"'+(y+15)+'\" text-anchor=\"'+(x>L+N-24?'end':'middle')+'\" fill=\"#555\">'+si(t)+'</text>';}ax.innerHTML=h;}"
    "function view(a,b){v0=a;v1=b;var s=1/(b-a),tx=L-(L+a*N)*s;"
    "g.querySelectorAll('g.zx').forEach(function(z){z.setAttribute('transform','translate('+tx+',0) scale('+s+',1)');});axis();}"
    "svg.addEventListener('mousedown',function(e){drag=px(e);e.preventDefault();});"
    "svg.addEventListener('mousemove',function(e){var x=px(e);if(x<L||x>L+N)return;"
    "cur.setAttribute('x1',x);cur.setAttribute('x2',x);cur.setAttribute('stroke-opacity','0.4');"
    "var f=frac(x),c=Math.min(N-1,Math.floor(f*N));out.textContent='t = '+si(f*T)+'   total '+P[c].toFixed(2)+' W';"
    "if(drag!==null){sel.setAttribute('x',Math.min(drag,x));sel.setAttribute('width',Math.abs(x-drag));}});"
    "window.addEventListener('mouseup',function(e){if(drag===null)return;var x=px(e),d=drag,"
    "a=frac(Math.min(d,x)),b=frac(Math.max(d,x));drag=null;sel.setAttribute('width',0);"
    "if(Math.abs(x-d)>3&&b>a)view(a,b);});"
    "svg.addEventListener('dblclick',function(){view(0,1);});});"
    "var vw=document.documentElement.clientWidth,n=0,bad=[];function off(m){n++;if(bad.length<5)bad.push(m);}"
    "document.querySelectorAll('svg.chart').forEach(function(s){var r=s.getBoundingClientRect();"
    "if(r.right>vw+0.5)off(s.id+' is wider than the window');"
    "s.querySelectorAll('text').forEach(function(t){var b=t.getBoundingClientRect();if(!t.textContent||!b.width)return;"
    "if(b.left<r.left-0.5||b.right>r.right+0.5||b.top<r.top-0.5||b.bottom>r.bottom+0.5)off(s.id+': '+t.textContent);});});"
    "if(document.documentElement.scrollWidth>vw)off('the page is wider than the window');"
    "document.getElementById('pw-layout').textContent='window '+vw+' px, clipped '+n+(bad.length?': '+bad.join(' | '):'');"
    "if(st.textContent!=='error')st.textContent='rendered';})();";

static void meta_table(FILE *out, const pw_trace *t)
{
    fputs("<table class=\"meta\">\n", out);
    for (size_t i = 0; i < t->nmeta; i++) {
        fputs("<tr><td>", out);
        pw_svg_text(out, t->meta[i].key);
        fputs("</td><td>", out);
        pw_svg_text(out, t->meta[i].value);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

typedef struct warning_list {
    FILE *out;
    int n;
} warning_list;

static void warning_item(const char *msg, void *ctx)
{
    warning_list *w = ctx;
    fputs(w->n++ ? "<li>" : "<ul class=\"warnings\">\n<li>", w->out);
    pw_svg_text(w->out, msg);
    fputs("</li>\n", w->out);
}

/* Phases whose calls last, on average, less than a sample interval: their figures come
 * from within intervals, so they deserve the reader's caution. */
static void warn_short_phases(const pw_plot_run *run, warning_list *w)
{
    const pw_attribution *a = run->a;
    size_t shorter = 0;
    for (size_t i = 1; i < a->nnodes; i++)
        if (a->nodes[i].calls && a->nodes[i].duration_s / (double)a->nodes[i].calls < a->sample_interval_s)
            shorter++;
    if (!shorter) return;
    char msg[256], interval[32];
    pw_si(interval, sizeof interval, a->sample_interval_s, "s");
    snprintf(msg, sizeof msg, "%zu phase(s) last on average less than one sample interval "
             "(%s): their energy rests on interpolation within intervals", shorter, interval);
    warning_item(msg, w);
}

static void run_header(FILE *out, const pw_plot_run *run)
{
    char prov[1024];
    pw_plot_provenance(run, prov, sizeof prov);
    fputs("<p class=\"prov\">", out);
    pw_svg_text(out, prov);
    fputs("</p>\n", out);
    warning_list w = {out, 0};
    pw_report_warnings(run->t, run->a, warning_item, &w);
    warn_short_phases(run, &w);
    pw_timeline_omissions(run, warning_item, &w);
    pw_breakdown_omissions(run, warning_item, &w);
    if (w.n) fputs("</ul>\n", out);
    meta_table(out, run->t);
}

/* A heading (title then `of`, escaped) and its hint. */
static void section(FILE *out, const char *title, const char *of, const char *hint)
{
    fprintf(out, "<h2>%s", title);
    pw_svg_text(out, of);
    fputs("</h2>\n", out);
    if (hint) {
        fputs("<p class=\"hint\">", out);
        pw_svg_text(out, hint);
        fputs("</p>\n", out);
    }
}

/* One run's three charts, each under its heading (named after the run when there are several). */
static int run_charts(FILE *out, const pw_plot_run *run, size_t nruns)
{
    char title[160] = "";
    if (nruns > 1) snprintf(title, sizeof title, " — %.120s", pw_plot_label(run));
    section(out, "Power over time", title, "Lines: mean power per pixel column; shaded: the "
            "lowest to highest sample in it; bands: top-level phases; lanes: nested phases per "
            "track. Drag to zoom, double-click to reset.");
    int rc = pw_chart_timeline(out, run, 0);
    if (rc != PW_OK) return rc;
    section(out, "Energy per phase", title, "Inclusive energy by domain kind.");
    rc = pw_chart_energy(out, run, 0);
    if (rc != PW_OK) return rc;
    section(out, "Sub-phase breakdown", title, "Each phase above its children; widths are "
            "inclusive energy, the gap at the right is the phase's own.");
    return pw_chart_icicle(out, run, 0);
}

typedef struct hint_buf {
    char text[512];
} hint_buf;

static void compare_note(const char *msg, void *ctx)
{
    hint_buf *h = ctx;
    size_t n = strlen(h->text);
    snprintf(h->text + n, sizeof h->text - n, " Left out: %s.", msg);
}

int pw_plot_html(FILE *out, const pw_plot_run *runs, size_t nruns)
{
    if (!out || !runs || nruns == 0) return PW_ERR_INVALID;
    pw_plot_run run = runs[0];
    run.page_index = 0;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>phasewatt — ", out);
    pw_svg_text(out, pw_plot_label(&run));
    fprintf(out, "</title>\n<style>%s</style></head>\n<body>\n<h1>phasewatt — ", style);
    pw_svg_text(out, pw_plot_label(&run));
    fputs(nruns > 1 ? " and others</h1>\n" : "</h1>\n", out);
    run_header(out, &run);
    int rc = PW_OK;
    if (nruns > 1) {
        hint_buf hint = {"The charts of each run, and its header, follow run by run."};
        pw_compare_omissions(runs, nruns, compare_note, &hint);
        section(out, "Runs side by side", "", hint.text);
        rc = pw_chart_compare(out, runs, nruns, 0);
    }
    for (size_t r = 0; r < nruns && rc == PW_OK; r++) {
        run = runs[r];
        run.page_index = r;
        if (r > 0) {
            fputs("<details><summary>", out);
            pw_svg_text(out, pw_plot_label(&run));
            fputs(": provenance, warnings, metadata</summary>\n", out);
            run_header(out, &run);
            fputs("</details>\n", out);
        }
        rc = run_charts(out, &run, nruns);
    }
    if (rc != PW_OK) return rc;
    fprintf(out, "<pre id=\"pw-errors\"></pre><pre id=\"pw-layout\" hidden></pre>"
            "<p class=\"hint\">phasewatt %s · <span id=\"pw-status\">static</span></p>\n"
            "<script>%s</script>\n</body></html>\n", PW_VERSION_STRING, script);
    return pw_report_finish(out);
}

/* ---- the charts as separate files ------------------------------------------------------- */

typedef int (*chart_fn)(FILE *out, const pw_plot_run *run, int standalone);

static int svg_file(const char *dir, const char *name, FILE *list, chart_fn fn,
                    const pw_plot_run *runs, size_t nruns)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    pw_safefile out;   /* a private name renamed into place: a link there is replaced, not followed */
    FILE *f = pw_safefile_fopen(&out, path);
    if (!f) return PW_ERR_IO;
    int rc = fn ? fn(f, &runs[0], 1) : pw_chart_compare(f, runs, nruns, 1);
    if (rc == PW_OK) rc = pw_report_finish(f);
    int err = errno, done = pw_safefile_finish(&out, f, rc == PW_OK);
    if (rc == PW_OK) rc = done;
    else errno = err;
    if (rc == PW_OK && list) fprintf(list, "%s\n", path);
    return rc;
}

int pw_plot_svg_files(const char *dir, const pw_plot_run *runs, size_t nruns, FILE *list)
{
    if (!dir || !runs || nruns == 0) return PW_ERR_INVALID;
    int rc = svg_file(dir, "power.svg", list, pw_chart_timeline, runs, nruns);
    if (rc == PW_OK) rc = svg_file(dir, "energy.svg", list, pw_chart_energy, runs, nruns);
    if (rc == PW_OK) rc = svg_file(dir, "icicle.svg", list, pw_chart_icicle, runs, nruns);
    if (rc == PW_OK && nruns > 1) rc = svg_file(dir, "compare.svg", list, NULL, runs, nruns);
    return rc;
}
