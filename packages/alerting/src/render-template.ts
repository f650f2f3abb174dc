/**
 * Fills `{{name}}` placeholders from labels and `{{value}}`, and the forms of Prometheus' templates, so rules
 * loaded from Prometheus files render: `{{ $labels.name }}`, `{{ .Labels.name }}`, `{{ $value }}`, `{{ .Value }}`
 * (a pipe such as `| humanize` formats as `{{value}}` does). Unknown names stay visible rather than vanish.
 */
export function renderTemplate(template: string, labels: Readonly<Record<string, string>>, value: number): string {
  return template.replace(/\{\{\s*(\$labels\.|\.Labels\.|\$|\.)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|[^}]*)?\}\}/g, (whole, scope: string | undefined, name: string) => {
    const isLabel = scope === '$labels.' || scope === '.Labels.';
    if (!isLabel && (name === 'value' || name === 'Value')) return Number.isInteger(value) ? String(value) : value.toFixed(2);
    if (!isLabel && scope) return whole;
    return labels[name] ?? whole;
  });
}
