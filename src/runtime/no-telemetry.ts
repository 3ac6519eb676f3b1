/**
 * Turns onnxruntime's telemetry off before the native library loads. Without this, every process that loads a
 * network writes a persistent device id and queued usage events (OS, CPU, memory, the model's metadata) under
 * `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, plus `$TMPDIR/.ses` and a `$TMPDIR/mat-debug-<pid>.log`, and
 * would send them when it can. Our promise is that nothing about the user's images leaves the machine, so it is
 * switched off here, in the environment, where it also holds for every worker thread and child process we start.
 *
 * Imported for its side effect, first, by the one module that imports onnxruntime-node (./onnx.ts): ES modules run
 * their imports in order, so this runs before onnxruntime's binding is loaded.
 */
process.env['ORT_DISABLE_TELEMETRY'] = '1';
