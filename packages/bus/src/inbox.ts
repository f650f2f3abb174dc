/**
 * The inbox prefix of one NATS user of the suite: `_INBOX_<user>` (`_INBOX_processor`, `_INBOX_game-eu`). Every
 * connection of the suite sets it as nats.js' `inboxPrefix`, so the replies to its requests, its JetStream API
 * answers and publish acks, and the messages its pull consumers fetch all arrive under it; the generated NATS
 * permissions let each user subscribe to its own prefix only, so no client reads another's replies or pulls.
 */
export function inboxPrefix(user: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(user)) throw new Error(`not a NATS user name for an inbox prefix: ${JSON.stringify(user)}`);
  return `_INBOX_${user}`;
}
