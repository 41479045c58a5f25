// ThumbHash decoding: a job's `placeholder.thumbhash` (base64) to a small blurred PNG data URL.
// A port of `thumbHashToRGBA` and `rgbaToDataURL` from https://github.com/evanw/thumbhash
// (js/thumbhash.js); worker_service/thumbhash.py is the matching encoder. Licence of the
// original:
//
// Copyright (c) 2023 Evan Wallace
//
// Permission is hereby granted, free of charge, to any person obtaining a copy
// of this software and associated documentation files (the "Software"), to deal
// in the Software without restriction, including without limitation the rights
// to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
// copies of the Software, and to permit persons to whom the Software is
// furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in all
// copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
// IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
// OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
// SOFTWARE.

const { PI, cos, max, min, round } = Math;

/** The placeholder as a PNG data URL, from the base64 the API sends. */
export function thumbHashToDataURL(base64) {
  const hash = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const { w, h, rgba } = thumbHashToRGBA(hash);
  return rgbaToDataURL(w, h, rgba);
}

/** Width over height of the image the hash was made from, roughly. */
export function approximateAspectRatio(hash) {
  const header = hash[3];
  const hasAlpha = hash[2] & 0x80;
  const landscape = hash[4] & 0x80;
  const lx = landscape ? (hasAlpha ? 5 : 7) : header & 7;
  const ly = landscape ? header & 7 : hasAlpha ? 5 : 7;
  return lx / ly;
}

/** The hash decoded to at most 32x32 RGBA pixels. */
export function thumbHashToRGBA(hash) {
  const header24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const header16 = hash[3] | (hash[4] << 8);
  const lDc = (header24 & 63) / 63;
  const pDc = ((header24 >> 6) & 63) / 31.5 - 1;
  const qDc = ((header24 >> 12) & 63) / 31.5 - 1;
  const lScale = ((header24 >> 18) & 31) / 31;
  const hasAlpha = header24 >> 23;
  const pScale = ((header16 >> 3) & 63) / 63;
  const qScale = ((header16 >> 9) & 63) / 63;
  const landscape = header16 >> 15;
  const lx = max(3, landscape ? (hasAlpha ? 5 : 7) : header16 & 7);
  const ly = max(3, landscape ? header16 & 7 : hasAlpha ? 5 : 7);
  const aDc = hasAlpha ? (hash[5] & 15) / 15 : 1;
  const aScale = (hash[5] >> 4) / 15;

  // The AC terms, four bits each; colour is boosted 1.25x against quantisation.
  let nibble = 0;
  const start = hasAlpha ? 6 : 5;
  const channel = (nx, ny, scale) => {
    const ac = [];
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, nibble++) {
        const bits = (hash[start + (nibble >> 1)] >> ((nibble & 1) << 2)) & 15;
        ac.push((bits / 7.5 - 1) * scale);
      }
    }
    return ac;
  };
  const lAc = channel(lx, ly, lScale);
  const pAc = channel(3, 3, pScale * 1.25);
  const qAc = channel(3, 3, qScale * 1.25);
  const aAc = hasAlpha ? channel(5, 5, aScale) : [];

  const ratio = approximateAspectRatio(hash);
  const w = round(ratio > 1 ? 32 : 32 * ratio);
  const h = round(ratio > 1 ? 32 / ratio : 32);
  const rgba = new Uint8Array(w * h * 4);
  const fx = [];
  const fy = [];
  // Sums one channel's terms at a pixel (the inverse DCT), with `fx`/`fy` set for it.
  const sum = (ac, nx, ny, fits) => {
    let total = 0;
    for (let cy = 0, j = 0; cy < ny; cy++) {
      const fy2 = fy[cy] * 2;
      for (let cx = cy ? 0 : 1; fits(cx, cy); cx++, j++) total += ac[j] * fx[cx] * fy2;
    }
    return total;
  };
  const lFits = (cx, cy) => cx * ly < lx * (ly - cy);
  const fits3 = (cx, cy) => cx < 3 - cy;
  const fits5 = (cx, cy) => cx < 5 - cy;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      for (let cx = 0, n = max(lx, hasAlpha ? 5 : 3); cx < n; cx++) {
        fx[cx] = cos((PI / w) * (x + 0.5) * cx);
      }
      for (let cy = 0, n = max(ly, hasAlpha ? 5 : 3); cy < n; cy++) {
        fy[cy] = cos((PI / h) * (y + 0.5) * cy);
      }
      const l = lDc + sum(lAc, lx, ly, lFits);
      const p = pDc + sum(pAc, 3, 3, fits3);
      const q = qDc + sum(qAc, 3, 3, fits3);
      const a = hasAlpha ? aDc + sum(aAc, 5, 5, fits5) : aDc;
      // LPQ back to RGB.
      const b = l - (2 / 3) * p;
      const r = (3 * l - b + q) / 2;
      const g = r - q;
      rgba[i] = max(0, 255 * min(1, r));
      rgba[i + 1] = max(0, 255 * min(1, g));
      rgba[i + 2] = max(0, 255 * min(1, b));
      rgba[i + 3] = max(0, 255 * min(1, a));
    }
  }
  return { w, h, rgba };
}

// CRC-32 by nibbles, for the PNG chunks.
const CRC_TABLE = [
  0, 498536548, 997073096, 651767980, 1994146192, 1802195444, 1303535960, 1342533948,
  -306674912, -267414716, -690576408, -882789492, -1687895376, -2032938284, -1609899400,
  -1111625188,
];

/** RGBA pixels (at most 100x100) as an uncompressed PNG data URL. */
export function rgbaToDataURL(w, h, rgba) {
  const row = w * 4 + 1;
  const idat = 6 + h * (5 + row);
  const bytes = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, w >> 8, w & 255, 0, 0,
    h >> 8, h & 255, 8, 6, 0, 0, 0, 0, 0, 0, 0, idat >>> 24, (idat >> 16) & 255,
    (idat >> 8) & 255, idat & 255, 73, 68, 65, 84, 120, 1,
  ];
  // One stored (uncompressed) deflate block per row, and the Adler-32 of all of them.
  let a = 1;
  let b = 0;
  for (let y = 0, i = 0, end = row - 1; y < h; y++, end += row - 1) {
    bytes.push(y + 1 < h ? 0 : 1, row & 255, row >> 8, ~row & 255, (row >> 8) ^ 255, 0);
    for (b = (b + a) % 65521; i < end; i++) {
      const u = rgba[i] & 255;
      bytes.push(u);
      a = (a + u) % 65521;
      b = (b + a) % 65521;
    }
  }
  bytes.push(b >> 8, b & 255, a >> 8, a & 255, 0, 0, 0, 0, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130);
  for (let [from, end] of [[12, 29], [37, 41 + idat]]) {
    let c = ~0;
    for (let i = from; i < end; i++) {
      c ^= bytes[i];
      c = (c >>> 4) ^ CRC_TABLE[c & 15];
      c = (c >>> 4) ^ CRC_TABLE[c & 15];
    }
    c = ~c;
    bytes[end++] = c >>> 24;
    bytes[end++] = (c >> 16) & 255;
    bytes[end++] = (c >> 8) & 255;
    bytes[end++] = c & 255;
  }
  return `data:image/png;base64,${btoa(String.fromCharCode(...bytes))}`;
}
