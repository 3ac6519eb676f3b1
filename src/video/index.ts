// Video upscaling through ffmpeg: the only module that spawns it.
export { upscaleVideo, DEFAULT_VIDEO_SCALE } from './upscale-video.js';
export type { UpscaleVideoOptions, UpscaleVideoResult, VideoProgress, StageTiming } from './upscale-video.js';
export { locateFfmpeg, INSTALL_HINT } from './ffmpeg.js';
export type { FfmpegTools, FfmpegFeatures } from './ffmpeg.js';
export { probeVideo, probeFrameTimes } from './probe.js';
export type { VideoInfo, FrameTimes, ColourTags } from './probe.js';
export { VIDEO_CODECS, isVideoContainer } from './codecs.js';
export type { VideoCodec } from './codecs.js';
export { workDirFor } from './segments.js';
