import { useEffect, useRef } from 'preact/hooks';
import type { RefObject } from 'preact';
import uPlot from 'uplot';

/** Colours of a chart's series, chosen for contrast on the dark background and to stay apart for colour-blind readers. */
export const SERIES_COLORS = ['#4cc9f0', '#f8961e', '#90be6d', '#f94144', '#b5a1ff', '#f9c74f', '#43aa8b', '#ff8fab'];

const AXIS = { stroke: '#c9d1d9', grid: { stroke: 'rgba(201,209,217,0.12)' }, ticks: { stroke: 'rgba(201,209,217,0.25)' } };

/** Options of a time chart sized to `width`; `series` excludes the x series. */
export function timeChartOptions(width: number, height: number, series: uPlot.Series[], extra: Partial<uPlot.Options> = {}): uPlot.Options {
  return {
    width,
    height,
    series: [{}, ...series],
    axes: [{ ...AXIS }, { ...AXIS, size: 60 }],
    legend: { show: series.length > 1 },
    cursor: { drag: { x: false, y: false } },
    ...extra,
  };
}

/**
 * A uPlot in `container`, created again when `shape` changes (series added or removed) and otherwise only given
 * new data, so a live update is a setData, not a rebuild; it follows the container's width.
 */
export function useUplot(container: RefObject<HTMLDivElement | null>, shape: string, options: (width: number) => uPlot.Options, data: uPlot.AlignedData): void {
  const plot = useRef<uPlot | undefined>(undefined);
  const latestData = useRef(data);
  latestData.current = data;
  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const made = new uPlot(options(Math.max(el.clientWidth, 200)), latestData.current, el);
    plot.current = made;
    const resize = new ResizeObserver(() => made.setSize({ width: Math.max(el.clientWidth, 200), height: made.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      made.destroy();
      plot.current = undefined;
    };
    // The options are rebuilt only with the shape: series and sizes follow from it.
  }, [shape]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
}
