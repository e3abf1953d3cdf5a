#!/usr/bin/python3
"""Charts for bench/side_by_side.sh's results folder, drawn from its data.tsv.

  /usr/bin/python3 bench/plot_results.py RESULTS/data.tsv RESULTS/

data.tsv has one line per run and figure: proxy, scenario, metric, run, value (tab-separated,
with that header). Writes into the folder:
  cpu.svg      the proxy's own CPU per unit of work (metric "us") for every scenario that has it:
               one panel per scenario (units differ: per request, per handshake, per MiB, per
               WebSocket message), a bar per proxy at the median of the runs, error bars from
               the smallest to the largest run
  latency.svg  p50 and p99 (metrics "p50", "p99", in ms) for every scenario that measured them,
               one panel per scenario, medians with min-max error bars
Needs Debian's matplotlib (python3-matplotlib), hence /usr/bin/python3 rather than the python3
on PATH. A chart with nothing to draw is not written.
"""
import collections
import csv
import statistics
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

# Column order and names as in the Markdown table; anything else follows, by name.
PROXY_ORDER = ["ringgate", "nginx", "haproxy", "h2o", "caddy"]
PROXY_LABEL = {"ringgate": "ringgate", "nginx": "nginx", "haproxy": "HAProxy", "h2o": "h2o",
               "caddy": "Caddy"}
PROXY_COLOUR = {"ringgate": "#d62728", "nginx": "#2ca02c", "haproxy": "#1f77b4",
                "h2o": "#9467bd", "caddy": "#ff7f0e"}
# Scenario order and what one unit of its "us" metric is.
SCENARIOS = [
    ("ka64", "keep-alive 1 KiB, 64 conns, saturated", "us / request"),
    ("ka256", "keep-alive 1 KiB, 256 conns, saturated", "us / request"),
    ("capped", "keep-alive 256 conns, equal CPU cap", "us / request"),
    ("rate20k", "fixed 20k req/s, 64 conns", "us / request"),
    ("ka256x2", "2 workers, keep-alive 256 conns, saturated", "us / request"),
    ("bulk", "1 MiB responses, 8 conns", "us / MiB"),
    ("full13", "full TLS 1.3 handshakes", "us / handshake"),
    ("full12", "full TLS 1.2 handshakes", "us / handshake"),
    ("resumed", "new conn per request, resumed TLS 1.3", "us / connection"),
    ("ws", "WebSocket echo, 128 B", "us / message"),
]


def load(path):
    """{(proxy, scenario, metric): [values over runs]} from data.tsv."""
    values = collections.defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                values[(row["proxy"], row["scenario"], row["metric"])].append(float(row["value"]))
            except (KeyError, ValueError):
                continue  # a malformed or empty line: nothing to draw
    return values


def proxies_in(values):
    seen = {key[0] for key in values}
    return [p for p in PROXY_ORDER if p in seen] + sorted(seen - set(PROXY_ORDER))


def scenarios_in(values, metrics):
    known = [s for s in SCENARIOS if any((p, s[0], m) in values
                                         for p in proxies_in(values) for m in metrics)]
    names = {s[0] for s in SCENARIOS}
    extra = sorted({key[1] for key in values if key[2] in metrics and key[1] not in names})
    return known + [(s, s, "us / unit") for s in extra]


def summary(runs):
    """median, distance down to the minimum, distance up to the maximum"""
    med = statistics.median(runs)
    return med, med - min(runs), max(runs) - med


def grid(count):
    cols = min(3, count)
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def label_bars(ax, bars, medians, highs):
    """The median above each bar, clear of its error bar; None: no label."""
    for bar, med, high in zip(bars, medians, highs):
        if med is None:
            continue
        text = "%.0f" % med if med >= 100 else "%.3g" % med
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height() + high),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                    fontsize=7)


def series(values, proxies, scenario, metric):
    """Medians and the distances to the smallest and largest run, per proxy (0 where none)."""
    meds, lows, highs = [], [], []
    for p in proxies:
        runs = values.get((p, scenario, metric))
        med, low, high = summary(runs) if runs else (0.0, 0.0, 0.0)
        meds.append(med)
        lows.append(low)
        highs.append(high)
    return meds, lows, highs


def finish_axis(ax, proxies, title, ylabel):
    ax.set_xticks(list(range(len(proxies))))
    ax.set_xticklabels([PROXY_LABEL.get(p, p) for p in proxies], fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.margins(y=0.15)


def save(fig, out, title):
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, metadata={"Date": None})  # no date: the same data, the same file
    plt.close(fig)


def plot_cpu(values, out):
    proxies = proxies_in(values)
    scenarios = scenarios_in(values, {"us"})
    if not scenarios:
        return False
    fig, axes = grid(len(scenarios))
    for ax, (name, title, unit) in zip(axes, scenarios):
        meds, lows, highs = series(values, proxies, name, "us")
        colours = [PROXY_COLOUR.get(p, "#7f7f7f") for p in proxies]
        x = range(len(proxies))
        bars = ax.bar(x, meds, color=colours, yerr=[lows, highs], capsize=3,
                      error_kw={"elinewidth": 1})
        label_bars(ax, bars, [m if (p, name, "us") in values else None
                              for p, m in zip(proxies, meds)], highs)
        for i, p in enumerate(proxies):
            if (p, name, "us") not in values:
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7)
        finish_axis(ax, proxies, title, "proxy CPU, " + unit)
    save(fig, out, "Proxy CPU per unit of work (median of runs, bars: min-max); lower is better")
    return True


def plot_latency(values, out):
    proxies = proxies_in(values)
    scenarios = scenarios_in(values, {"p50", "p99"})
    if not scenarios:
        return False
    fig, axes = grid(len(scenarios))
    width = 0.38
    for ax, (name, title, _) in zip(axes, scenarios):
        for offset, metric, hatch in ((-width / 2, "p50", None), (width / 2, "p99", "//")):
            meds, lows, highs = series(values, proxies, name, metric)
            x = [i + offset for i in range(len(proxies))]
            bars = ax.bar(x, meds, width, yerr=[lows, highs], capsize=2,
                          color=[PROXY_COLOUR.get(p, "#7f7f7f") for p in proxies],
                          alpha=0.55 if metric == "p50" else 1.0, hatch=hatch,
                          edgecolor="black", linewidth=0.4, error_kw={"elinewidth": 1})
            label_bars(ax, bars, [m if (p, name, metric) in values else None
                                  for p, m in zip(proxies, meds)], highs)
        for i, p in enumerate(proxies):
            if (p, name, "p50") not in values and (p, name, "p99") not in values:
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7)
        finish_axis(ax, proxies, title + "  (left p50, right p99)", "latency, ms")
    save(fig, out,
         "Request latency p50 / p99 (median of runs, bars: min-max); lower is better")
    return True


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data, folder = sys.argv[1], sys.argv[2]
    values = load(data)
    # Stable SVGs: the same data gives the same file (no random ids; no date, see savefig).
    matplotlib.rcParams["svg.hashsalt"] = "ringgate-bench"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    wrote = []
    for name, draw in (("cpu.svg", plot_cpu), ("latency.svg", plot_latency)):
        if draw(values, folder.rstrip("/") + "/" + name):
            wrote.append(name)
    print("plot_results: wrote " + (" ".join(wrote) if wrote else "nothing (no figures)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
