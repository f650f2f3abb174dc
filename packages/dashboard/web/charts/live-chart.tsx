import { useRef } from 'preact/hooks';
import type uPlot from 'uplot';
import { formatValue, type Unit } from '../format-value.ts';
import { SERIES_COLORS, timeChartOptions, useUplot } from './use-uplot.ts';

/** Props of {@link LiveChart}. */
export interface LiveChartProps {
  title: string;
  unit: Unit;
  labels: string[];
  data: uPlot.AlignedData;
  latest: number | undefined;
  /** Width of the time axis: the chart always shows this much, ending at its newest point. */
  windowMs: number;
  /** Identify the chart for tests and styling (`data-metric`, `data-host`). */
  metric: string;
  host: string;
}

/** A small live time chart with its newest value as a label (also in `data-latest`, which tests read). */
export function LiveChart({ title, unit, labels, data, latest, windowMs, metric, host }: LiveChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const series: uPlot.Series[] = labels.map((label, i) => ({
    label,
    stroke: SERIES_COLORS[i % SERIES_COLORS.length],
    width: 1.5,
    spanGaps: true,
    // Dots while a series has only a few points in view, so a new host's first samples are visible.
    points: { show: (_u, _si, i0, i1) => i1 - i0 < 5, size: 6 },
    value: (_u, v) => formatValue(v ?? undefined, unit),
  }));
  useUplot(
    container,
    labels.join('|'),
    (width) =>
      timeChartOptions(width, 140, series, {
        axes: [
          { stroke: '#c9d1d9', grid: { stroke: 'rgba(201,209,217,0.12)' } },
          { stroke: '#c9d1d9', grid: { stroke: 'rgba(201,209,217,0.12)' }, size: 70, values: (_u, splits) => splits.map((v) => formatValue(v, unit)) },
        ],
        scales: {
          // A fixed window ending just after the newest point (room for its dot), so a new host's first sample sits
          // at the right edge; not auto, because uPlot widens a one-point auto range to years.
          x: {
            time: true,
            auto: false,
            range: (u) => {
              const newest = u.data[0].at(-1) ?? Date.now() / 1000;
              return [newest - windowMs / 1000, newest + windowMs / 50_000];
            },
          },
          y: { range: unit === 'percent' ? [0, 100] : (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
        },
        legend: { show: labels.length > 1, live: false },
      }),
    data,
  );
  const latestText = formatValue(latest, unit);
  return (
    <figure class="chart live-chart" data-metric={metric} data-host={host} data-latest={latest ?? ''} data-points={data[0].length}>
      <figcaption>
        <span>{title}</span>
        <output class="latest" aria-label={`${title} now`}>
          {latestText}
        </output>
      </figcaption>
      <div ref={container} class="plot" role="img" aria-label={`${title} of ${host}, now ${latestText}`} />
    </figure>
  );
}
