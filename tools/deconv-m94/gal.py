import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
C,H,W=mean.shape
lm=mean.mean(0); ld=dec.mean(0)
sm=nd.gaussian_filter(lm,20)
cx,cy=545,963
print("galaxy centre",cx,cy, "H W",H,W)
yy,xx=np.mgrid[0:H,0:W]; r=np.hypot(yy-cy,xx-cx)
bgm=np.median(lm[(r>250)&(r<300)]); bgd=np.median(ld[(r>250)&(r<300)])
for R in (8,15,25,50,100,150,200):
    a=r<=R
    for c in range(3):
        pass
    print("R %d: mean %.4g dec %.4g ratio %.4f | per channel %s"%(R,(lm[a]-bgm).sum(),(ld[a]-bgd).sum(),(ld[a]-bgd).sum()/(lm[a]-bgm).sum(),
      " ".join("%.4f"%((dec[c][a]-np.median(dec[c][(r>250)&(r<300)])).sum()/(mean[c][a]-np.median(mean[c][(r>250)&(r<300)])).sum()) for c in range(3))))
print("sky median mean %.2f dec %.2f"%(np.median(lm),np.median(ld)))
