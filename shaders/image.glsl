#version 330
// An RGB image (e.g. a learned renderer's output) drawn as a textured quad filling the viewport.
// Image rows are top-first in the texture (numpy order), so v is flipped for GL's bottom-up screen.

#if defined VERTEX_SHADER

in vec2 in_corner;   // per vertex: quad corner in {-1, 1}^2 (fills the viewport)

out vec2 v_uv;

void main() {
    gl_Position = vec4(in_corner, 0.0, 1.0);
    v_uv = vec2(0.5 * in_corner.x + 0.5, 0.5 - 0.5 * in_corner.y);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D u_image;

in vec2 v_uv;
out vec4 f_color;

void main() {
    f_color = vec4(texture(u_image, v_uv).rgb, 1.0);
}

#endif
