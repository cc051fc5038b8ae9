#version 330
// Instanced entities: one quad per (tile, entity) instance, shaded by a signed distance field.
// One draw call per shape type (u_shape); the same program serves one image or a grid of tiles.
//
// Pixel space: "local" coordinates are pixels relative to the instance's tile, in GL orientation
// (x right, y up from the tile's bottom row). With u_flip = -1 world y up maps to local y down, so a
// glReadPixels of the framebuffer yields image rows top-first without a flip in numpy.
// Everything that decides coverage is computed in tile-local pixels and passed as flat varyings, so
// a tile renders bit-identically wherever it sits in the framebuffer.

#if defined VERTEX_SHADER

in vec2 in_corner;      // per vertex: quad corner in {-1, 1}^2
in vec2 in_pos;         // per instance: entity centre, world units
in float in_radius;     // per instance: radius / half side, world units
in vec3 in_color;       // per instance: RGB 0..1
in vec3 in_camera;      // per instance: tile camera (cx, cy, half_extent of the shorter side)
in vec2 in_origin;      // per instance: tile's bottom-left corner in target pixels (integers)
in vec2 in_half;        // per instance: a rectangle's half sides, world units (u_shape 2: walls)
in vec2 in_rot;         // per instance: a rectangle's direction (cos, sin) of its first side

uniform vec2 u_target_size;  // drawing area (viewport) size in pixels
uniform vec2 u_tile_size;    // tile size in pixels (w, h)
uniform float u_flip;        // +1: world y up = GL y up (screen); -1: rows top-first for read-back

flat out vec2 v_center;      // tile-local pixels
flat out float v_radius;     // pixels
flat out vec3 v_color;
flat out vec2 v_origin;
flat out vec2 v_half;        // pixels
flat out vec2 v_rot;

void main() {
    float scale = min(u_tile_size.x, u_tile_size.y) / (2.0 * in_camera.z);  // pixels per world unit
    vec2 rel = (in_pos - in_camera.xy) * scale;
    rel.y *= u_flip;
    vec2 center = 0.5 * u_tile_size + rel;
    float r = in_radius * scale;  // for a rectangle: its half diagonal, so the quad covers it turned
    // One pixel beyond the edge covers the anti-aliased fringe (coverage reaches 0 at d = +0.5 px);
    // clamping to the tile keeps the rasteriser from visiting pixels of neighbouring tiles at all.
    vec2 local = clamp(center + in_corner * (r + 1.0), vec2(0.0), u_tile_size);
    vec2 pixel = in_origin + local;
    gl_Position = vec4(pixel / u_target_size * 2.0 - 1.0, 0.0, 1.0);
    v_center = center;
    v_radius = r;
    v_color = in_color;
    v_origin = in_origin;
    v_half = in_half * scale;
    v_rot = vec2(in_rot.x, in_rot.y * u_flip);
}

#elif defined FRAGMENT_SHADER

uniform vec2 u_tile_size;
uniform vec2 u_viewport_origin;  // gl_FragCoord is window-relative; subtract the viewport corner
uniform int u_shape;             // 0 circle, 1 square (axis-aligned, half side = radius), 2 rectangle
uniform float u_outline_width;   // pixels, 0 = no outline
uniform vec3 u_outline_color;
uniform float u_opacity;         // 1 for entities and walls; below 1 for translucent zones

flat in vec2 v_center;
flat in float v_radius;
flat in vec3 v_color;
flat in vec2 v_origin;
flat in vec2 v_half;
flat in vec2 v_rot;

out vec4 f_color;

void main() {
    vec2 local = gl_FragCoord.xy - u_viewport_origin - v_origin;
    // Belt and braces with the vertex clamp: nothing of this instance may land in another tile.
    if (any(lessThan(local, vec2(0.0))) || any(greaterThanEqual(local, u_tile_size))) {
        discard;
    }
    vec2 p = local - v_center;
    float d;
    if (u_shape == 0) {
        d = length(p) - v_radius;
    } else {
        vec2 half_side = vec2(v_radius);
        if (u_shape == 2) {  // a rectangle turned by v_rot: into its own frame
            p = vec2(dot(p, v_rot), dot(p, vec2(-v_rot.y, v_rot.x)));
            half_side = v_half;
        }
        vec2 q = abs(p) - half_side;
        d = length(max(q, 0.0)) + min(max(q.x, q.y), 0.0);
    }
    float coverage = clamp(0.5 - d, 0.0, 1.0);  // one-pixel anti-aliased edge
    if (coverage <= 0.0) {
        discard;
    }
    vec3 color = v_color;
    if (u_outline_width > 0.0) {
        color = mix(color, u_outline_color, clamp(d + u_outline_width + 0.5, 0.0, 1.0));
    }
    f_color = vec4(color, coverage * u_opacity);
}

#endif
