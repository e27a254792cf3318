// Anchor translation unit for the shared precompiled header (rpct_pch).
