/** Turn the runner's cancellation (SIGINT, then SIGTERM) into an AbortSignal that waits honour. */
export function cancelOnSignals(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']) {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  for (const s of signals) process.on(s, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
    },
  };
}
