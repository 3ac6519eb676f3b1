/**
 * Provenance: every AI-upscaled output says so in its XMP, with the IPTC Digital Source Type for algorithmically
 * enhanced media and the tool, model, weights hash and scale, so that invented detail is never passed off as
 * captured detail.
 */
export const DIGITAL_SOURCE_TYPE_ENHANCED = 'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced';
/** Namespace of our own provenance properties. */
export const UPSCALE_XMP_NAMESPACE = 'urn:upscale:xmp:1.0#';

export interface ProvenanceRecord {
  /** Tool and version, e.g. `upscale 0.1.0`. */
  readonly tool: string;
  readonly model: string;
  /** SHA-256 of the model's weights; absent for classical interpolation. */
  readonly modelSha256?: string | undefined;
  /** Denoise strength of a model that has one (`photo`). */
  readonly denoise?: number | undefined;
  /** Run as a self-ensemble (test-time augmentation). */
  readonly tta?: boolean | undefined;
  /** Whether the model is a network that invents detail (sets the IPTC Digital Source Type). */
  readonly ai: boolean;
  readonly scaleX: number;
  readonly scaleY: number;
  readonly width: number;
  readonly height: number;
}

/** Returns an XMP packet: the input's own XMP (if any) with our description added, or a new packet. */
export function withProvenance(existingXmp: string | undefined, record: ProvenanceRecord): string {
  const description = provenanceDescription(record);
  if (existingXmp !== undefined && existingXmp.includes('</rdf:RDF>')) {
    // A re-upscaled image keeps one record of ours, and one Digital Source Type.
    const cleaned = existingXmp
      .replace(/<rdf:Description[^>]*xmlns:upscale="urn:upscale:xmp:1\.0#"[^>]*\/>\s*/g, '')
      .replace(/\s+Iptc4xmpExt:DigitalSourceType="[^"]*"/g, '')
      .replace(/<Iptc4xmpExt:DigitalSourceType[^>]*>[^<]*<\/Iptc4xmpExt:DigitalSourceType>\s*/g, '')
      .replace(/<Iptc4xmpExt:DigitalSourceType[^>]*\/>\s*/g, '');
    return cleaned.replace('</rdf:RDF>', `${description}\n</rdf:RDF>`);
  }
  return [
    '<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>',
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
    description,
    '</rdf:RDF>',
    '</x:xmpmeta>',
    '<?xpacket end="w"?>',
  ].join('\n');
}

function provenanceDescription(record: ProvenanceRecord): string {
  const attributes: [string, string][] = [
    ['rdf:about', ''],
    ['xmlns:Iptc4xmpExt', 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/'],
    ['xmlns:upscale', UPSCALE_XMP_NAMESPACE],
  ];
  if (record.ai) attributes.push(['Iptc4xmpExt:DigitalSourceType', DIGITAL_SOURCE_TYPE_ENHANCED]);
  attributes.push(['upscale:Tool', record.tool], ['upscale:Model', record.model]);
  if (record.modelSha256 !== undefined) attributes.push(['upscale:ModelSHA256', record.modelSha256]);
  if (record.denoise !== undefined) attributes.push(['upscale:Denoise', String(record.denoise)]);
  if (record.tta === true) attributes.push(['upscale:TTA', 'true']);
  attributes.push(
    ['upscale:Scale', formatScale(record.scaleX, record.scaleY)],
    ['upscale:OutputSize', `${record.width}x${record.height}`],
  );
  return `<rdf:Description ${attributes.map(([k, v]) => `${k}="${escapeXml(v)}"`).join(' ')}/>`;
}

function formatScale(x: number, y: number): string {
  const round = (v: number): string => String(Math.round(v * 1000) / 1000);
  return round(x) === round(y) ? round(x) : `${round(x)}x${round(y)}`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
