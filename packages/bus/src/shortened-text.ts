/** `text` cut to `max` characters, saying how much was cut: what a log line or a dead letter quotes of a sender's text. */
export function shortenedText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
