// Thin wrapper over uPlot: a time chart whose series may change between
// updates (services come and go), sized to its container.

import uPlot from "uplot";
import { h } from "./dom";

export interface SeriesDef {
  label: string;
  color: string;
  /** fill draws the series as filled bars (histograms). */
  fill?: boolean;
}

export interface ChartOptions {
  height: number;
  /** bars draws every series as stacked bars instead of lines. */
  bars?: boolean;
  /** yLabel formats the y axis values. */
  yFormat?: (v: number) => string;
  /** onSelect is told the time range (unix seconds) the user dragged across. */
  onSelect?: (from: number, to: number) => void;
  testid?: string;
}

const axisStroke = "#94a3b8";
const gridStroke = "rgba(148,163,184,0.12)";

export class TimeChart {
  readonly el: HTMLElement;
  private plot: uPlot | null = null;
  private key = "";
  private readonly ro: ResizeObserver;

  constructor(private readonly opts: ChartOptions) {
    this.el = h("div", { class: "chart", "data-testid": opts.testid });
    this.ro = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.opts.height });
    });
    this.ro.observe(this.el);
  }

  private width(): number {
    return Math.max(200, Math.floor(this.el.clientWidth || 600));
  }

  /**
   * setData draws xs (unix seconds) against one array per series. For bar
   * charts the series are stacked: each is drawn on top of the previous.
   */
  setData(series: SeriesDef[], xs: number[], ys: number[][]): void {
    const key = series.map((s) => `${s.label}\u0000${s.color}`).join("\u0001");
    let data = ys;
    if (this.opts.bars) {
      // stack: draw cumulative sums, topmost first so lower ones stay visible
      const acc = xs.map(() => 0);
      data = ys.map((y) => y.map((v, i) => (acc[i] = (acc[i] ?? 0) + v)));
    }
    // Bars: the topmost (cumulative) series is drawn first so the lower
    // ones stay visible in front of it.
    const plotData = (this.opts.bars ? [xs, ...[...data].reverse()] : [xs, ...data]) as uPlot.AlignedData;
    if (this.plot && key === this.key) {
      this.plot.setData(plotData);
      return;
    }
    this.plot?.destroy();
    this.key = key;
    const yFormat = this.opts.yFormat ?? ((v: number) => String(v));
    const bars = this.opts.bars ? uPlot.paths.bars?.({ size: [0.9, 40], align: 1 }) : undefined;
    const onSelect = this.opts.onSelect;
    const sdefs: uPlot.Series[] = series.map((s) => ({
      label: s.label,
      stroke: s.color,
      width: this.opts.bars ? 0 : 1.5,
      fill: this.opts.bars || s.fill ? s.color + (this.opts.bars ? "cc" : "33") : undefined,
      points: { show: false },
      paths: bars,
      value: (_u: uPlot, v: number | null) => (v === null ? "–" : yFormat(v)),
    }));
    if (this.opts.bars) sdefs.reverse();
    this.plot = new uPlot(
      {
        width: this.width(),
        height: this.opts.height,
        cursor: { drag: { x: Boolean(onSelect), y: false, setScale: false } },
        select: { show: Boolean(onSelect), left: 0, top: 0, width: 0, height: 0 },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: axisStroke, grid: { stroke: gridStroke }, ticks: { stroke: gridStroke }, space: 80 },
          { stroke: axisStroke, grid: { stroke: gridStroke }, ticks: { stroke: gridStroke }, size: 60, values: (_u, vals) => vals.map((v) => yFormat(v)) },
        ],
        series: [{ label: "time" }, ...sdefs],
        hooks: onSelect
          ? {
              setSelect: [
                (u) => {
                  if (u.select.width < 3) return;
                  const a = u.posToVal(u.select.left, "x");
                  const b = u.posToVal(u.select.left + u.select.width, "x");
                  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
                  onSelect(a, b);
                },
              ],
            }
          : {},
      },
      plotData,
      this.el,
    );
  }

  destroy(): void {
    this.ro.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
