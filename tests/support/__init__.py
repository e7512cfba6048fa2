"""Helpers the whole suite shares: recording fakes, fabricated folders, the tiny preset."""
