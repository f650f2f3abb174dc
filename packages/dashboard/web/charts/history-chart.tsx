import { useMemo, useRef } from 'preact/hooks';
import type uPlot from 'uplot';
import type { HistoryAnswer } from '../api-types.ts';
import { formatTags, formatValue } from '../format-value.ts';
import { SERIES_COLORS, timeChartOptions, useUplot } from './use-uplot.ts';

/** Most series drawn; more would be unreadable (the table of the answer says how many there were). */
const MAX_SERIES = 8;
/** Series up to which min/max bands are drawn; beyond it the bands would cover each other. */
const MAX_BANDED = 3;

interface ChartShape {
  series: uPlot.Series[];
  bands: uPlot.Band[];
  data: uPlot.AlignedData;
  points: number;
}

/** uPlot columns of a history answer: one value column per series, plus min and max columns for banded tiers. */
function shapeOf(answer: HistoryAnswer): ChartShape {
  const drawn = answer.series.slice(0, MAX_SERIES);
  const times = [...new Set(drawn.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const banded = drawn.length <= MAX_BANDED && drawn.some((s) => s.points.some((p) => p.length === 4));
  const series: uPlot.Series[] = [];
  const bands: uPlot.Band[] = [];
  const columns: (number | null)[][] = [];
  drawn.forEach((s, i) => {
    const color = SERIES_COLORS[i % SERIES_COLORS.length]!;
    const column = (pick: (p: number[]) => number | undefined) => {
      const values: (number | null)[] = times.map(() => null);
      for (const p of s.points) values[index.get(p[0])!] = pick(p) ?? null;
      return values;
    };
    series.push({ label: Object.keys(s.tags).length ? formatTags(s.tags) : answer.name, stroke: color, width: 1.5, spanGaps: true, value: (_u, v) => formatValue(v ?? undefined) });
    columns.push(column((p) => p[1]));
    if (banded) {
      const valueIdx = series.length;
      series.push({ label: 'max', stroke: 'transparent', width: 0, points: { show: false } }, { label: 'min', stroke: 'transparent', width: 0, points: { show: false } });
      columns.push(column((p) => p[3] ?? p[1]), column((p) => p[2] ?? p[1]));
      // uPlot series indices count the x column as 0.
      bands.push({ series: [valueIdx + 2, valueIdx + 3], fill: `${color}33` });
    }
  });
  return { series, bands, data: [times.map((t) => t / 1000), ...columns], points: drawn.reduce((n, s) => n + s.points.length, 0) };
}

/** The chart of a history answer, with min/max bands where the tier has them. */
export function HistoryChart({ answer }: { answer: HistoryAnswer }) {
  const container = useRef<HTMLDivElement>(null);
  const shape = useMemo(() => shapeOf(answer), [answer]);
  useUplot(container, `${answer.name}|${answer.from}|${answer.tier}|${shape.series.map((s) => s.label).join('|')}`, (width) => timeChartOptions(width, 320, shape.series, { bands: shape.bands }), shape.data);
  return (
    <figure class="chart history-chart" data-metric={answer.name} data-tier={answer.tier} data-points={shape.points}>
      <figcaption>
        <span>{answer.name}</span>
        <span class="muted">
          tier {answer.tier}
          {answer.step ? `, ${Math.round(answer.step / 1000)} s buckets` : ', raw points'}
          {shape.bands.length ? ', band = min…max' : ''}
          {answer.truncated ? ' (truncated)' : ''}
        </span>
      </figcaption>
      <div ref={container} class="plot" role="img" aria-label={`${answer.name}: ${shape.points} points in ${answer.series.length} series`} />
    </figure>
  );
}
