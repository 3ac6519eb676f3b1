/** The quality harness: PSNR-Y / SSIM-Y (and optionally NIQE) of models on super-resolution test sets, by the papers' protocol. */
export { evaluate, MIN_EVAL_SCALE, MAX_EVAL_SCALE } from './evaluate.js';
export type { EvalOptions, EvalProgress, EvalReport, EvalModelResult, EvalImageResult } from './evaluate.js';
export { evaluateNoReference } from './no-reference.js';
export type { NoReferenceOptions, NoReferenceReport, NoReferenceModelResult, NoReferenceImageResult } from './no-reference.js';
export { listDataset, preparePair, DATASET_EXTENSIONS } from './dataset.js';
export type { DatasetImage, PreparedPair, ListDatasetOptions } from './dataset.js';
export { formatReport, formatNoReferenceReport, markdownTable, formatPsnr, formatSsim, formatNiqe, formatSeconds, datasetLabel } from './report.js';
export type { FormatOptions } from './report.js';
