/** Where images come in: dropped anywhere on the page, pasted from the clipboard, or picked with the file dialog. */
import { byId } from './dom.js';

export type FilesHandler = (files: File[]) => void;

function imagesOf(list: FileList | null | undefined): File[] {
  // The server sniffs the content; the type filter only keeps obviously wrong things (folders, text) out.
  return Array.from(list ?? []).filter((file) => file.size > 0 || file.type.startsWith('image/'));
}

export function initIntake(onFiles: FilesHandler): void {
  const picker = byId<HTMLInputElement>('file-input');
  picker.addEventListener('change', () => {
    const files = imagesOf(picker.files);
    if (files.length) onFiles(files);
    picker.value = '';
  });

  const zone = byId('drop-zone');
  zone.addEventListener('click', () => picker.click());
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      picker.click();
    }
  });

  // The whole window accepts drops; the body shows where they land.
  let depth = 0;
  const hasFiles = (event: DragEvent): boolean => Array.from(event.dataTransfer?.types ?? []).includes('Files');
  window.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    document.body.classList.add('dragging');
  });
  window.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove('dragging');
  });
  window.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    const files = imagesOf(event.dataTransfer?.files);
    if (files.length) onFiles(files);
  });

  window.addEventListener('paste', (event) => {
    const target = event.target as HTMLElement | null;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return; // pasting a number
    const files = imagesOf(event.clipboardData?.files);
    if (files.length === 0) return;
    event.preventDefault();
    // Screenshots pasted from the clipboard are all called image.png: give them a time-stamped name.
    const stamp = new Date().toISOString().slice(11, 19).replaceAll(':', '');
    onFiles(files.map((file, i) => (file.name && file.name !== 'image.png' ? file : new File([file], `pasted-${stamp}${i ? `-${i}` : ''}.png`, { type: file.type }))));
  });
}
