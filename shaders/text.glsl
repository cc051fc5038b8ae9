#version 330
// HUD text: instanced quads in screen pixels (origin top-left, y down), sampling a one-channel glyph
// atlas. The background box is an instance too, sampling a solid white block of the atlas, so a whole
// block of text (box first, then glyphs, blended in instance order) is one draw call.

#if defined VERTEX_SHADER

in vec2 in_corner;   // per vertex: unit quad corner in {0, 1}^2
in vec4 in_rect;     // per instance: x, y, w, h in target pixels (top-left origin)
in vec4 in_uv;       // per instance: u0, v0, u1, v1 in the atlas (v0 = glyph top)
in vec4 in_color;    // per instance: straight RGBA

uniform vec2 u_target_size;  // viewport size in pixels
uniform float u_flip;        // +1: screen (top of image = GL top); -1: rows top-first for read-back

out vec2 v_uv;
flat out vec4 v_color;

void main() {
    vec2 pixel = in_rect.xy + in_corner * in_rect.zw;
    vec2 ndc = pixel / u_target_size * 2.0 - 1.0;
    ndc.y = -u_flip * ndc.y;
    gl_Position = vec4(ndc, 0.0, 1.0);
    v_uv = mix(in_uv.xy, in_uv.zw, in_corner);
    v_color = in_color;
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_atlas;

in vec2 v_uv;
flat in vec4 v_color;

out vec4 f_color;

void main() {
    float coverage = texture(u_atlas, v_uv).r;
    f_color = vec4(v_color.rgb, v_color.a * coverage);
}

#endif
