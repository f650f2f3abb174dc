/** Fills `{{name}}` placeholders from labels and `{{value}}`; unknown names stay visible rather than vanish. */
export function renderTemplate(template: string, labels: Readonly<Record<string, string>>, value: number): string {
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (whole, name: string) => {
    if (name === 'value') return Number.isInteger(value) ? String(value) : value.toFixed(2);
    return labels[name] ?? whole;
  });
}
