// What a submit asks for: the ticked presets and the custom sizes, as the API takes them.

const NAME_LENGTH = 32;
export const FORMATS = { jpeg: "JPEG", png: "PNG", webp: "WebP", avif: "AVIF" };

/** One variant in words: "thumb: 320×320 cover, WebP". */
export function describeVariant(v) {
  const box = [v.width ?? "auto", v.height ?? "auto"].join("×");
  return `${v.name}: ${box} ${v.fit ?? "contain"}, ${FORMATS[v.format ?? "jpeg"]}`;
}

/** A custom size row's fields as a variant (a blank side is left to the aspect ratio). */
export function customVariant(fields) {
  const variant = { name: fields.name.trim(), fit: fields.fit, format: fields.format };
  for (const side of ["width", "height"]) {
    if (fields[side] !== "") variant[side] = Number(fields[side]);
  }
  return variant;
}

/**
 * The form field for a submit. One preset alone is sent by name (it works where the
 * deployment takes presets only, and the job records it); anything else is sent as the
 * variants it stands for. Nothing chosen: nothing sent, so the service's `default` applies.
 */
export function chooseVariants(presets, custom) {
  if (presets.length === 1 && custom.length === 0) return { preset: presets[0].name };
  const variants = [];
  const taken = new Set();
  for (const preset of presets) {
    for (const variant of preset.variants) {
      variants.push({ ...variant, name: freeName(variant.name, preset.name, taken) });
    }
  }
  for (const variant of custom) variants.push({ ...variant, name: freeName(variant.name, "", taken) });
  return variants.length ? { variants } : {};
}

// Variant names are unique within a job, and two presets may both have a "thumb": a repeat is
// renamed after its preset ("thumbnail-thumb"), or numbered.
function freeName(name, prefix, taken) {
  const candidates = [name, prefix && `${prefix}-${name}`];
  for (let n = 2; candidates.length < 12; n++) candidates.push(`${name}-${n}`);
  for (const candidate of candidates) {
    const fitted = candidate && candidate.slice(0, NAME_LENGTH);
    if (fitted && !taken.has(fitted)) {
      taken.add(fitted);
      return fitted;
    }
  }
  return name; // the API names the clash
}
