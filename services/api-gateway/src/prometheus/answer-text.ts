/** An answer that is JSON text already (the engine's own), sent as it is rather than written again. */
export class AnswerText {
  constructor(readonly json: string) {}
}
